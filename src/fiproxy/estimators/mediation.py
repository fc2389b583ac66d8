"""Mediation analysis X -> M -> Y with absorbed fixed effects (product of coefficients).

Equations, all on the same sample and with the same fixed effects and controls
(Baron & Kenny 1986; parallel mediators as in Preacher & Hayes 2008)::

    M_j = a_j X + controls + FE + e_j              (one per mediator)
    Y   = c' X + sum_j b_j M_j + controls + FE + u  (outcome)
    Y   = c X + controls + FE + v                  (total effect)

indirect effect of mediator j: a_j b_j; total indirect sum_j a_j b_j; direct
effect c'; total effect c (= c' + sum_j a_j b_j exactly, by least-squares
algebra on a common sample). Inference:

- Sobel (1982, "Asymptotic confidence intervals for indirect effects in
  structural equation models", Sociological Methodology 13: 290-312) delta
  method, with the joint covariance of all equations from their stacked scores
  (same covariance type as :func:`fiproxy.twfe`, each diagonal block equal to
  that equation's twfe covariance; cross-equation covariances included);
- pairs cluster bootstrap: whole clusters resampled with replacement (a
  resampled cluster gets its own fixed-effect levels when the fixed effect is
  nested in it), percentile intervals (Cameron, Gelbach & Miller 2008);
- wild cluster bootstrap: one set of cluster weights (Rademacher, Webb …,
  :mod:`~fiproxy.estimators.inference.bootstrap_weights`) perturbs the
  residuals of every equation, so the bootstrap keeps their dependence;
  residuals are inflated by sqrt(G/(G-1) (n-1)/(n-K)), K counting all slopes and
  fixed effects, so that the bootstrap variance of each path matches a
  small-sample-corrected cluster-robust variance (within residuals are shrunk by
  the absorbed fixed effects); percentile intervals of the products. The restricted wild cluster bootstrap
  p-values of the a and b paths (:func:`fiproxy.wild_bootstrap`) give the
  joint-significance test.

Execution back ends (``backend=``, :mod:`fiproxy.parallel`): the draws of both
bootstraps run in fixed chunks (``PAIRS_CHUNK`` resamples, ``BACKEND_CHUNK``
weight vectors), chunk i seeded by child i of ``SeedSequence(seed)``, so the
draws are the same on every back end and worker count.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy import stats as _st

from fiproxy.estimators.demean import demean, factorize_fe
from fiproxy.estimators.design import DesignError, check_columns
from fiproxy.estimators.formula import parse_formula
from fiproxy.estimators.inference.bootstrap_weights import draw_weights
from fiproxy.estimators.inference.wild_bootstrap import BACKEND_CHUNK, chunk_sizes, map_chunks
from fiproxy.estimators.inference.vcov import VcovError, VcovInputs, compute_vcov, parse_vcov
from fiproxy.estimators.result import Result
from fiproxy.estimators.twfe import twfe

__all__ = ["mediation"]

BOOTSTRAPS = ("none", "pairs", "wild", "both")
PAIRS_CHUNK = 50  # pairs-bootstrap resamples per task on an execution back end


def _names(mediators) -> list[str]:
    meds = [mediators] if isinstance(mediators, str) else list(mediators)
    if not meds:
        raise ValueError("give at least one mediator")
    return meds


def _formulas(treatment, meds, outcome, controls, fe) -> dict:
    rhs_c = "".join(f" + {c}" for c in controls)
    tail = f" | {fe}" if fe else ""
    out = {f"M:{m}": f"{m} ~ {treatment}{rhs_c}{tail}" for m in meds}
    out["Y"] = f"{outcome} ~ {treatment}{''.join(f' + {m}' for m in meds)}{rhs_c}{tail}"
    out["total"] = f"{outcome} ~ {treatment}{rhs_c}{tail}"
    return out


def _stacked_vcov(req, fits: dict, time) -> tuple[np.ndarray, float, str]:
    """Joint covariance of all equations' coefficients (blocks rescaled to each twfe vcov)."""
    designs = [r.extra["design"] for r in fits.values()]
    d0 = designs[0]
    w = d0.weights
    ks = [d.k for d in designs]
    off = np.concatenate([[0], np.cumsum(ks)])
    breads = [r.extra["bread"] for r in fits.values()]
    if req.kind == "iid":
        n = d0.nobs
        V = np.zeros((off[-1], off[-1]))
        for i, di in enumerate(designs):
            for j, dj in enumerate(designs):
                ww = 1.0 if w is None else w
                s = float(np.sum(ww * di.resid * dj.resid)) / (n - max(di.k, dj.k) - d0.df_fe)
                Xj = dj.X if w is None else dj.X * w[:, None]
                V[off[i]:off[i + 1], off[j]:off[j + 1]] = s * breads[i] @ (di.X.T @ Xj) @ breads[j]
        V = (V + V.T) / 2
        return V, float(n - designs[-2].k - d0.df_fe), "iid (SUR)"
    if req.kind in ("HC2", "HC3", "CRV3"):
        raise VcovError(f"mediation supports iid, HC1, CRV1 and DK covariances, not {req.kind}")
    scores = np.hstack([d.X * ((d.resid if w is None else w * d.resid)[:, None]) for d in designs])
    inp = VcovInputs(bread=sla.block_diag(*breads), scores=scores, resid=d0.resid, X=np.hstack([d.X for d in designs]),
                     weights=w, df_fe=d0.df_fe, fe_codes=d0.fe_codes, frame=d0.frame, time=time)
    out = compute_vcov(req, inp)
    V = out.V
    s = np.ones(off[-1])
    for i, r in enumerate(fits.values()):
        ratio = r.vcov.to_numpy()[0, 0] / V[off[i], off[i]]
        s[off[i]:off[i + 1]] = np.sqrt(ratio)
    return V * np.outer(s, s), out.df_t, out.label


def _derived(meds, beta: dict) -> tuple[list[str], callable]:
    """Names of the reported parameters and a function from equation coefficients to them."""
    one = len(meds) == 1

    def lab(kind, m):
        return kind if one else f"{kind}[{m}]"

    names = [lab("a", m) for m in meds] + [lab("b", m) for m in meds] + [lab("indirect", m) for m in meds]
    if not one:
        names.append("indirect")
    names += ["direct", "total"]

    def f(a: np.ndarray, b: np.ndarray, cp: np.ndarray, c: np.ndarray) -> np.ndarray:
        """a, b: (k, B); cp, c: (B,) -> (len(names), B)."""
        ab = a * b
        rows = [a, b, ab] + ([ab.sum(axis=0, keepdims=True)] if not one else [])
        return np.vstack(rows + [cp[None], c[None]])

    return names, f


def _cluster_var(req) -> str | None:
    return req.clusters[0] if req.clusters else None


class _PairsSample:
    """Data of the pairs cluster bootstrap; :meth:`draw` refits all equations on one resample."""

    def __init__(self, fits, meds, treatment, cluster):
        dY, dT = fits["Y"].extra["design"], fits["total"].extra["design"]
        ymed = np.column_stack([fits[f"M:{m}"].extra["design"].y_raw for m in meds])
        self.cols = np.column_stack([dY.y_raw, dT.y_raw, ymed, dY.X_raw])
        namesY = list(dY.coefnames)
        self.iT, self.iM = namesY.index(treatment), [namesY.index(m) for m in meds]
        self.xT_cols = [namesY.index(c) for c in dT.coefnames]
        frame = dY.frame
        cl = (np.arange(len(frame)) if cluster is None else factorize_fe(frame[cluster])[:, 0])
        self.G = G = int(cl.max()) + 1
        self.members = [np.flatnonzero(cl == g) for g in range(G)]
        fe = self.fe = dY.fe_codes
        self.nested = [len(np.unique(fe[:, j] * G + cl)) == int(fe[:, j].max()) + 1 for j in range(fe.shape[1])]
        self.w = dY.weights
        self.nY = 2 + len(meds)

    def draw(self, gs) -> np.ndarray | None:
        """(a, b, c', c) on the sample of clusters ``gs``; None when a design is singular."""
        members, fe, G, nY, xT_cols = self.members, self.fe, self.G, self.nY, self.xT_cols
        rows = np.concatenate([members[g] for g in gs])
        slot = np.concatenate([np.full(len(members[g]), s) for s, g in enumerate(gs)])
        wb = None if self.w is None else self.w[rows]
        A = self.cols[rows]
        if fe.shape[1]:
            codes = np.column_stack([fe[rows, j] * (G + 1) + slot if self.nested[j] else fe[rows, j]
                                     for j in range(fe.shape[1])])
            A = demean(A, factorize_fe(codes), wb)[0]
        if wb is not None:
            A = A * np.sqrt(wb)[:, None]
        X = A[:, nY:]
        XT = X[:, xT_cols]
        try:
            bY = sla.lstsq(X, A[:, 0], cond=1e-10)
            bT = sla.lstsq(XT, A[:, 1], cond=1e-10)
            bM = sla.lstsq(XT, A[:, 2:nY], cond=1e-10)
        except (np.linalg.LinAlgError, ValueError):
            return None
        if bY[2] < X.shape[1] or bT[2] < XT.shape[1]:
            return None
        a = bM[0][xT_cols.index(self.iT)]
        return np.concatenate([a, bY[0][self.iM], [bY[0][self.iT], bT[0][xT_cols.index(self.iT)]]])


def _pairs_chunk(sample: _PairsSample, size: int, seed: np.random.SeedSequence) -> list:
    """Worker task: ``size`` pairs resamples drawn from ``seed``."""
    idx = np.random.default_rng(seed).integers(0, sample.G, size=(size, sample.G))
    return [sample.draw(gs) for gs in idx]


def _pairs_bootstrap(fits, meds, treatment, cluster, B, seed, n_jobs, backend=None) -> tuple[np.ndarray, int]:
    """Pairs cluster bootstrap draws of (a, b, c', c); returns (4-tuple stacked, failures)."""
    sample = _PairsSample(fits, meds, treatment, cluster)
    if backend is not None:
        parts = map_chunks(backend, _pairs_chunk, chunk_sizes(B, PAIRS_CHUNK), seed, sample)
        out = [o for part in parts for o in part]
    elif n_jobs == 1:
        draws_idx = np.random.default_rng(seed).integers(0, sample.G, size=(B, sample.G))
        out = [sample.draw(gs) for gs in draws_idx]
    else:
        from joblib import Parallel, delayed

        draws_idx = np.random.default_rng(seed).integers(0, sample.G, size=(B, sample.G))
        out = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(sample.draw)(gs) for gs in draws_idx)
    ok = [o for o in out if o is not None]
    return np.array(ok).T, B - len(ok)


def _shift_draws(est: np.ndarray, C: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Wild draws est_j + V @ C_j of every path j: (paths, B)."""
    return np.array([e + V @ c for e, c in zip(est, C)])


def _wild_chunk(shared: tuple, size: int, seed: np.random.SeedSequence) -> np.ndarray:
    """Worker task: wild draws of every path for ``size`` weight vectors drawn from ``seed``."""
    est, C, weights = shared
    return _shift_draws(est, C, draw_weights(weights, C.shape[1], size, np.random.default_rng(seed)))


def _wild_draws(fits, meds, treatment, cluster, B, weights, seed, backend=None) -> np.ndarray:
    """Wild cluster bootstrap draws of (a, b, c', c) with common weights across equations."""
    dY = fits["Y"].extra["design"]
    frame = dY.frame
    cl = np.arange(len(frame)) if cluster is None else factorize_fe(frame[cluster])[:, 0]
    G = int(cl.max()) + 1
    est, C = [], []
    for key, coef in [*((f"M:{m}", treatment) for m in meds), *(("Y", m) for m in meds), ("Y", treatment),
                      ("total", treatment)]:
        r = fits[key]
        d = r.extra["design"]
        j = list(d.coefnames).index(coef)
        ws = d.resid if d.weights is None else d.weights * d.resid
        h = r.extra["bread"][j] @ d.X.T  # (n,) row of (X'WX)^{-1}X'
        n = d.nobs
        scale = np.sqrt(G / (G - 1) * (n - 1) / (n - d.k - d.df_fe))  # residuals inflated as in CRV1/HC1
        C.append(scale * np.bincount(cl, weights=h * ws, minlength=G))
        est.append(r.params[coef])
    est, C = np.array(est), np.array(C)
    if backend is None:
        return _shift_draws(est, C, draw_weights(weights, G, B, np.random.default_rng(seed)))
    parts = map_chunks(backend, _wild_chunk, chunk_sizes(B, BACKEND_CHUNK), seed, (est, C, weights))
    return np.concatenate(parts, axis=1)


def _percentile_ci(draws: np.ndarray, level: float) -> np.ndarray:
    a = (1 - level) / 2
    return np.quantile(draws, [a, 1 - a], axis=1).T


def mediation(
    data: pd.DataFrame,
    treatment: str,
    mediators: str | Sequence[str],
    outcome: str,
    controls: Sequence[str] = (),
    fe: str | None = "prov_code + year",
    vcov: Any = {"CRV1": "prov_code"},
    weights: str | None = None,
    *,
    bootstrap: str = "none",
    B: int = 999,
    wild_weights: str = "webb",
    seed: int | None = None,
    level: float = 0.95,
    n_jobs: int = 1,
    panel_id: tuple[str, str] | None = None,
    backend: Any = None,
) -> Result:
    """Fixed-effect mediation analysis with parallel mediators.

    Parameters
    ----------
    data : DataFrame
    treatment, outcome : str
        Column names of X and Y.
    mediators : str or list of str
        One or several (parallel) mediators.
    controls : list of str
        Control terms in formula syntax (``"ln_gdp_pc"``, ``"l(x, 1)"``).
    fe : str or None
        Fixed effects as in a formula (``"prov_code + year"``).
    vcov : str or dict
        ``"iid"``, ``"HC1"``, ``{"CRV1": "prov_code"}``, ``"DK"`` (joint over equations).
    weights : str, optional
        Column of analytic weights used in every equation.
    bootstrap : {"none", "pairs", "wild", "both"}
        Pairs cluster bootstrap and/or wild cluster bootstrap percentile
        intervals (clusters = the first cluster variable of ``vcov``, else
        observations), ``B`` draws, seed ``seed``.
    wild_weights : {"webb", "rademacher", "mammen", "normal"}
    B, seed : int
        Bootstrap draws and seed.
    level : float
        Confidence level of the intervals.
    n_jobs : int
        Threads for the pairs bootstrap (``backend=None``); with a back end named by a
        string, its number of workers.
    panel_id : (unit, time), optional
        As in :func:`fiproxy.twfe`.
    backend : optional
        Execution back end of both bootstraps and the path p-values
        (:func:`fiproxy.parallel.get_backend`: ``"serial"``, ``"processes"``, ``"dask"``, a
        ``distributed.Client``, an address or a ``Backend``). Draws then run in fixed chunks
        seeded by ``SeedSequence(seed).spawn(n_chunks)``: identical on every back end and
        worker count, other draws than the default ``None`` (one generator, ``n_jobs`` threads).

    Returns
    -------
    Result with ``model="mediation"``; params ``a``, ``b``, ``indirect``,
    ``direct``, ``total`` (``a[m]``, ``b[m]``, ``indirect[m]`` and the total
    ``indirect`` with several mediators); ``stats`` holds the share mediated
    (with delta-method SE), Sobel z tests and wild-bootstrap path p-values;
    ``extra`` the equation Results, bootstrap draws and CI tables.
    """
    meds = _names(mediators)
    if bootstrap not in BOOTSTRAPS:
        raise ValueError(f"bootstrap must be one of {BOOTSTRAPS}, got {bootstrap!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    controls = [controls] if isinstance(controls, str) else list(controls)
    check_columns(data, [treatment, outcome, *meds])
    for v in (treatment, outcome, *meds):
        if not pd.api.types.is_numeric_dtype(data[v]):
            raise DesignError(f"{v!r} is not numeric (dtype {data[v].dtype})")
    if len(set([treatment, outcome, *meds])) != 2 + len(meds):
        raise DesignError("treatment, mediators and outcome must be different columns")
    req = parse_vcov(vcov)
    if not data.index.is_unique:
        data = data.reset_index(drop=True)
    formulas = _formulas(treatment, meds, outcome, controls, fe)
    # common sample: complete rows of every column any equation reads (lags resolved by twfe)
    cols = list(parse_formula(formulas["Y"]).columns) + ([weights] if isinstance(weights, str) else [])
    check_columns(data, cols)
    base = {"vcov": req, "weights": weights, "panel_id": panel_id, "collinear": "raise"}
    fY = twfe(formulas["Y"], data, **base)
    sample = fY.extra["design"].frame
    sub = data.loc[sample.index]
    fits: dict[str, Result] = {}
    for key, f in formulas.items():
        r = fY if key == "Y" else twfe(f, sub if not _has_lags(f) else data, **base)
        if r.nobs != fY.nobs:
            raise DesignError(f"equation {f!r} has {r.nobs} observations, the outcome equation {fY.nobs}; "
                              "mediation needs one common sample")
        d = r.extra["design"]
        Xw = d.X if d.weights is None else d.X * d.weights[:, None]
        r.extra["bread"] = np.linalg.inv(d.X.T @ Xw)
        fits[key] = r
    order = [f"M:{m}" for m in meds] + ["Y", "total"]
    fits = {k: fits[k] for k in order}
    time = fY.spec["panel_id"][1] if fY.spec.get("panel_id") else None
    Vall, df_t, label = _stacked_vcov(req, fits, time)
    # positions of a_j, b_j, c', c in the stacked coefficient vector
    off, pos = 0, {}
    for k, r in fits.items():
        idx = {nm: off + i for i, nm in enumerate(r.params.index)}
        if k.startswith("M:"):
            pos[("a", k[2:])] = idx[treatment]
        elif k == "Y":
            pos.update({("b", m): idx[m] for m in meds})
            pos["cp"] = idx[treatment]
        else:
            pos["c"] = idx[treatment]
        off += len(r.params)
    beta = np.concatenate([r.params.to_numpy() for r in fits.values()])
    a = beta[[pos[("a", m)] for m in meds]]
    b = beta[[pos[("b", m)] for m in meds]]
    names, f = _derived(meds, {})
    est = f(a[:, None], b[:, None], np.array([beta[pos["cp"]]]), np.array([beta[pos["c"]]]))[:, 0]
    # Jacobian of the reported parameters w.r.t. the stacked coefficients
    k = len(meds)
    J = np.zeros((len(names), len(beta)))
    for j, m in enumerate(meds):
        J[j, pos[("a", m)]] = 1
        J[k + j, pos[("b", m)]] = 1
        J[2 * k + j, pos[("a", m)]] = b[j]
        J[2 * k + j, pos[("b", m)]] = a[j]
    if k > 1:
        J[3 * k] = J[2 * k:3 * k].sum(axis=0)
    J[-2, pos["cp"]] = 1
    J[-1, pos["c"]] = 1
    V = J @ Vall @ J.T
    params = pd.Series(est, index=names, name="estimate")
    vdf = pd.DataFrame((V + V.T) / 2, index=names, columns=names)
    ind_name = "indirect"
    ind, tot = params[ind_name], params["total"]
    gshare = np.zeros(len(names))
    gshare[names.index(ind_name)] = 1 / tot
    gshare[-1] = -ind / tot ** 2
    crit = _st.t.ppf(1 - (1 - level) / 2, df_t) if df_t is not None else _st.norm.ppf(1 - (1 - level) / 2)
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    sobel = {nm: {"z": float(params[nm] / se[i]), "pvalue": float(2 * _st.norm.sf(abs(params[nm] / se[i])))}
             for i, nm in enumerate(names) if nm.startswith("indirect")}
    stats = {
        "share_mediated": float(ind / tot),
        "share_mediated_se": float(np.sqrt(gshare @ V @ gshare)),
        "sobel": sobel,
        "total_identity_gap": float(tot - params["direct"] - ind),
        "nobs": fY.nobs,
        "df_fe": fY.stats["df_fe"],
    }
    if "n_clusters" in fY.stats:
        stats["n_clusters"] = fY.stats["n_clusters"]
    ci = pd.DataFrame({"estimate": params, "se": se, "lower": params - crit * se, "upper": params + crit * se},
                      index=names)
    extra: dict = {"equations": fits, "ci": {"delta": ci}, "bootstrap": {}}
    cluster = _cluster_var(req)
    warnings = list(fY.warnings)
    if bootstrap != "none" and backend is not None:
        from fiproxy.parallel import backend_scope

        with backend_scope(backend, None if n_jobs in (None, 0, 1) else n_jobs) as be:
            _bootstraps(extra, stats, warnings, bootstrap, fits, meds, treatment, cluster, B, wild_weights, seed,
                        level, n_jobs, be)
    else:
        _bootstraps(extra, stats, warnings, bootstrap, fits, meds, treatment, cluster, B, wild_weights, seed,
                    level, n_jobs, None)
    spec = {"treatment": treatment, "mediators": meds, "outcome": outcome, "controls": controls, "fe": fe,
            "vcov": req.spec, "weights": weights, "bootstrap": bootstrap, "B": B if bootstrap != "none" else None,
            "wild_weights": wild_weights, "seed": seed, "level": level, "equations": formulas}
    return Result(params=params, vcov=vdf, nobs=fY.nobs, model="mediation", spec=spec, df_t=df_t,
                  vcov_type=label, stats=stats, warnings=tuple(dict.fromkeys(warnings)), extra=extra)


def _bootstraps(extra, stats, warnings, bootstrap, fits, meds, treatment, cluster, B, wild_weights, seed, level,
                n_jobs, backend) -> None:
    """Pairs and/or wild bootstrap draws, percentile intervals and path p-values into extra/stats/warnings."""
    names, f = _derived(meds, {})
    k = len(meds)
    if bootstrap in ("pairs", "both"):
        raw, failed = _pairs_bootstrap(fits, meds, treatment, cluster, B, seed, n_jobs, backend)
        dr = f(raw[:k], raw[k:2 * k], raw[2 * k], raw[2 * k + 1])
        extra["bootstrap"]["pairs"] = pd.DataFrame(dr.T, columns=names)
        extra["ci"]["pairs"] = pd.DataFrame(_percentile_ci(dr, level), index=names, columns=["lower", "upper"])
        stats["pairs_failed_draws"] = failed
        if failed:
            warnings.append(f"pairs bootstrap: {failed} of {B} draws had a singular design and were skipped")
    if bootstrap in ("wild", "both"):
        raw = _wild_draws(fits, meds, treatment, cluster, B, wild_weights, seed, backend)
        dr = f(raw[:k], raw[k:2 * k], raw[2 * k], raw[2 * k + 1])
        extra["bootstrap"]["wild"] = pd.DataFrame(dr.T, columns=names)
        extra["ci"]["wild"] = pd.DataFrame(_percentile_ci(dr, level), index=names, columns=["lower", "upper"])
        if cluster is not None:
            stats["wild_path_pvalues"] = _path_pvalues(fits, meds, treatment, cluster, B, wild_weights, seed,
                                                        backend)


def _has_lags(formula: str) -> bool:
    p = parse_formula(formula)
    return any(f.kind in ("lag", "lead") for t in p.terms for f in t.factors)


def _path_pvalues(fits, meds, treatment, cluster, B, weights, seed, backend=None) -> dict:
    """Restricted wild cluster bootstrap p-values of every a and b path (joint-significance test)."""
    import warnings as _w

    from fiproxy.estimators.inference.wild_bootstrap import wild_bootstrap

    out = {}
    with _w.catch_warnings():
        _w.simplefilter("ignore")
        for m in meds:
            out[f"a[{m}]"] = wild_bootstrap(fits[f"M:{m}"], treatment, B=B, weights=weights, seed=seed,
                                            cluster=cluster, conf_int=False, backend=backend).pvalue
            out[f"b[{m}]"] = wild_bootstrap(fits["Y"], m, B=B, weights=weights, seed=seed, cluster=cluster,
                                            conf_int=False, backend=backend).pvalue
    return out
