"""Specification curve (multiverse) analysis of a fixed-effects regression.

Every combination of outcome proxy, treatment proxy, control set, fixed-effect
structure, sample and covariance is one *specification*; ``spec_curve``
estimates them all and reports the curve of sorted estimates (Simonsohn,
Simmons & Nelson 2020, "Specification curve analysis", Nature Human Behaviour
4: 1208-1214; Steegen, Tuerlinckx, Gelman & Vanpaemel 2016, "Increasing
transparency through a multiverse analysis", Perspectives on Psychological
Science 11: 702-712) with the joint test of
:mod:`fiproxy.estimators.spec_curve_joint`.

Work is shared. For each (sample, fixed-effect structure) the model frame of
the union of all needed variables is built once and all its columns are
demeaned in one call to :func:`fiproxy.estimators.demean.demean`; each
specification is then a small least-squares fit on those columns and every
covariance request reuses that fit (:mod:`fiproxy.estimators.inference.vcov`).
The estimates, standard errors and estimation samples are those of
:func:`fiproxy.twfe` with the same formula (listwise deletion and singleton
removal per specification: when the union has missing values, specifications
are grouped by the variables they use). The (sample, fixed-effect) groups run
as tasks of an execution back end (:mod:`fiproxy.parallel`).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from fiproxy.estimators.demean import DemeanError, demean
from fiproxy.estimators.design import (DesignError, LinearDesign, build_model_frame, check_columns,
                                       collinear_columns)
from fiproxy.estimators.formula import FormulaError, parse_formula
from fiproxy.estimators.inference.vcov import VcovError, compute_vcov, parse_vcov
from fiproxy.estimators.twfe import default_panel_id, linear_vcov_inputs, solve_ls
from fiproxy.parallel import backend_scope

__all__ = ["spec_curve", "SpecCurveResult", "SpecCurveWarning", "Fit", "GroupTask", "GroupData", "build_group",
           "group_sets", "fit_spec", "run_group"]

_FIT_ERRORS = (DesignError, VcovError, DemeanError, np.linalg.LinAlgError)


class SpecCurveWarning(UserWarning):
    """Some specifications could not be estimated (listed in ``result.failed``)."""


# ---------------------------------------------------------------------------- choices
def _labelled(choices: Any, what: str, label_fn) -> dict[str, Any]:
    """Normalise a list (labels made by ``label_fn``) or a {label: choice} dict."""
    if isinstance(choices, dict):
        out = {str(k): v for k, v in choices.items()}
    else:
        if isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
            raise TypeError(f"{what} must be a list or a dict of choices, got {type(choices).__name__}")
        out = {}
        for c in choices:
            lab = label_fn(c)
            if lab in out:
                raise ValueError(f"{what}: choice {lab!r} appears twice")
            out[lab] = c
    if not out:
        raise ValueError(f"{what}: at least one choice is needed")
    return out


def _terms(ctrl: Any) -> tuple[str, ...]:
    if ctrl is None:
        return ()
    if isinstance(ctrl, str):
        return tuple(t.strip() for t in ctrl.split("+") if t.strip())
    return tuple(str(t).strip() for t in ctrl)


def _fe_text(fe: Any) -> str:
    if fe is None:
        return ""
    if isinstance(fe, str):
        return "" if fe.strip() in ("", "0") else fe.strip()
    return " + ".join(str(f) for f in fe)


def _vcov_label(v: Any) -> str:
    spec = parse_vcov(v).spec
    if isinstance(spec, dict):
        return ", ".join(f"{k}: {val}" for k, val in spec.items())
    return str(spec)


def _sample_rows(data: pd.DataFrame, name: str, rule: Any) -> np.ndarray | None:
    """Positions of the rows of a sample (None = all rows)."""
    if rule is None:
        return None
    if isinstance(rule, str):
        try:
            mask = data.eval(rule)
        except Exception as exc:  # pandas raises many types for a bad expression
            raise ValueError(f"sample {name!r}: cannot evaluate {rule!r} on the data ({exc})") from None
    else:
        mask = rule
    if isinstance(mask, pd.Series):
        if not mask.index.equals(data.index):
            mask = mask.reindex(data.index)
        if mask.isna().any():
            raise ValueError(f"sample {name!r}: the boolean mask has missing values or does not cover the data index")
        mask = mask.to_numpy()
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (len(data),):
        raise ValueError(f"sample {name!r} must be a query string or a boolean mask of length {len(data)}, "
                         f"got dtype {mask.dtype} shape {mask.shape}")
    if not mask.any():
        raise ValueError(f"sample {name!r} selects no rows")
    return np.flatnonzero(mask)


# ---------------------------------------------------------------------------- one (sample, FE) group
@dataclass(frozen=True)
class Fit:
    """One regression: outcome, treatment and controls (term labels as the formula parser writes them)."""

    index: int
    outcome: str
    treatment: str
    controls: tuple[str, ...]

    def formula(self, fe: str) -> str:
        rhs = " + ".join((self.treatment,) + self.controls)
        return f"{self.outcome} ~ {rhs}" + (f" | {fe}" if fe else "")


@dataclass
class GroupTask:
    """The fits of one (sample, fixed-effect structure) pair."""

    sample: str
    rows: np.ndarray | None
    fe: str
    fits: list[Fit]
    vcovs: list[Any]
    weights: str | None
    panel_id: tuple[str, str] | None
    drop_singletons: bool


@dataclass
class GroupData:
    """Raw and demeaned columns (by term label) of one estimation sample."""

    raw: dict[str, np.ndarray]
    tilde: dict[str, np.ndarray]
    weights: np.ndarray | None
    fe_codes: np.ndarray
    fe_names: list[str]
    df_fe: int
    frame: pd.DataFrame
    intercept: bool


def _union_formula(fits: list[Fit], fe: str) -> tuple[str, list[str]]:
    labels: list[str] = []
    for f in fits:
        for lab in (f.outcome, f.treatment) + f.controls:
            if lab not in labels:
                labels.append(lab)
    rhs = " + ".join(labels[1:]) if len(labels) > 1 else "1"
    return f"{labels[0]} ~ {rhs}" + (f" | {fe}" if fe else ""), labels


def build_group(data: pd.DataFrame, fits: list[Fit], fe: str, *, weights=None, panel_id=None,
                drop_singletons: bool = True, demean_tol: float = 1e-10) -> GroupData:
    """Model frame of the union of the fits' variables, demeaned once."""
    formula, labels = _union_formula(fits, fe)
    parsed = parse_formula(formula)
    mf = build_model_frame(parsed, data, panel_id=panel_id, weights=weights, drop_singletons=drop_singletons)
    names = [n for n in mf.coefnames if n != "Intercept"]
    if names != labels[1:]:
        bad = [t.label for t in parsed.terms if t.factors[0].categorical or len(t.factors) > 1 and
               any(f.categorical for f in t.factors)]
        raise DesignError(f"spec_curve takes numeric terms only (one column each); categorical term(s) {bad} "
                          "belong in fixed_effects")
    cols = np.column_stack([mf.y, mf.X])
    m = mf.fe_codes.shape[1]
    if m:
        tilde, _ = demean(cols, mf.fe_codes, mf.weights, tol=demean_tol)
        df_fe = int(sum(int(mf.fe_codes[:, j].max()) + 1 for j in range(m)) - (m - 1))
    else:
        tilde, df_fe = cols, 0
    all_names = [labels[0]] + list(mf.coefnames)
    return GroupData(raw={n: cols[:, j] for j, n in enumerate(all_names)},
                     tilde={n: tilde[:, j] for j, n in enumerate(all_names)},
                     weights=mf.weights, fe_codes=mf.fe_codes, fe_names=mf.fe_names, df_fe=df_fe,
                     frame=mf.frame, intercept="Intercept" in mf.coefnames)


def fit_spec(g: GroupData, fit: Fit, kept: list[str] | None = None):
    """Least squares of one fit on a group's demeaned columns.

    Returns (LinearDesign with resid/fitted set, beta, bread, kept regressor names).
    ``kept`` skips the collinearity check and uses those regressors.
    """
    names = (["Intercept"] if g.intercept else []) + [fit.treatment, *fit.controls]
    X = np.column_stack([g.tilde[n] for n in names])
    X_raw = np.column_stack([g.raw[n] for n in names])
    collinear = []
    if kept is None:
        ref = (X_raw ** 2 if g.weights is None else X_raw ** 2 * g.weights[:, None]).sum(axis=0)
        drop = collinear_columns(X, g.weights, ref)
        if drop.any():
            collinear = [n for n, d in zip(names, drop) if d]
            if fit.treatment in collinear:
                raise DesignError(f"treatment {fit.treatment!r} is collinear with the fixed effects or controls")
            X, X_raw = X[:, ~drop], X_raw[:, ~drop]
            names = [n for n, d in zip(names, drop) if not d]
    elif kept != names:
        pos = [names.index(n) for n in kept]
        X, X_raw, names = X[:, pos], X_raw[:, pos], list(kept)
    d = LinearDesign(X=np.ascontiguousarray(X), y=g.tilde[fit.outcome], X_raw=X_raw, y_raw=g.raw[fit.outcome],
                     weights=g.weights, coefnames=names, depvar=fit.outcome, frame=g.frame,
                     fe_codes=g.fe_codes, fe_names=g.fe_names, df_fe=g.df_fe, intercept=g.intercept,
                     collinear=collinear)
    beta, bread = solve_ls(d.X, d.y, d.weights)
    d.resid = d.y - d.X @ beta
    d.fitted = d.y_raw - d.resid
    return d, beta, bread, names


def _fit_rows(g: GroupData, task: GroupTask, fit: Fit, time: str | None, cache: dict) -> tuple[list[dict], dict]:
    d, beta, bread, names = fit_spec(g, fit)
    inputs = linear_vcov_inputs(d, beta, bread, time)
    inputs._cluster_cache = cache
    j = names.index(fit.treatment)
    rows = []
    for v in task.vcovs:
        try:
            out = compute_vcov(v, inputs)
        except VcovError as exc:
            rows.append({"vcov_request": v, "error": f"{type(exc).__name__}: {exc}"})
            continue
        if not out.V[j, j] >= 0:
            rows.append({"vcov_request": v, "error": f"VcovError: negative variance of {fit.treatment!r} "
                         f"({out.label}); use {{'fix_psd': True}} for multiway clustering"})
            continue
        se = float(np.sqrt(out.V[j, j]))
        rows.append({"vcov_request": v, "estimate": float(beta[j]), "se": se, "df_t": out.df_t,
                     "vcov_type": out.label, "nobs": d.nobs, "collinear": ", ".join(d.collinear)})
    return rows, {"kept": names, "estimate": float(beta[j])}


def _group_fits(g: GroupData, task: GroupTask, fits: list[Fit], time) -> tuple[list, list]:
    rows, infos, cache = [], [], {}
    for fit in fits:
        try:
            r, info = _fit_rows(g, task, fit, time, cache)
        except _FIT_ERRORS as exc:
            r, info = [{"vcov_request": v, "error": f"{type(exc).__name__}: {exc}"} for v in task.vcovs], None
        rows.append(r)
        infos.append(info)
    return rows, infos


def group_sets(sub: pd.DataFrame, task: GroupTask) -> list[tuple[list[int], Any]]:
    """Estimation samples of a group: [(fit positions, GroupData or the exception)].

    One model frame + demeaning for the union of variables when the sample has
    no missing values in them (and no lags); otherwise one per set of variables
    the fits use, so that every fit has the estimation sample ``twfe`` gives it.
    """
    if _no_missing(sub, task):
        sets = [list(range(len(task.fits)))]
    else:
        by_vars: dict[frozenset, list[int]] = {}
        for i, f in enumerate(task.fits):
            by_vars.setdefault(frozenset((f.outcome, f.treatment) + f.controls), []).append(i)
        sets = list(by_vars.values())
    out = []
    for members in sets:
        try:
            g = build_group(sub, [task.fits[i] for i in members], task.fe, weights=task.weights,
                            panel_id=task.panel_id, drop_singletons=task.drop_singletons)
        except _FIT_ERRORS as exc:
            g = exc
        out.append((members, g))
    return out


def run_group(data: pd.DataFrame, task: GroupTask) -> tuple[list, list]:
    """Fit every specification of a group: (rows per fit, fit info per fit)."""
    sub = data if task.rows is None else data.iloc[task.rows]
    time = task.panel_id[1] if task.panel_id else None
    rows, infos = [None] * len(task.fits), [None] * len(task.fits)
    for members, g in group_sets(sub, task):
        fits = [task.fits[i] for i in members]
        if isinstance(g, Exception):
            r = [[{"vcov_request": v, "error": f"{type(g).__name__}: {g}"} for v in task.vcovs] for _ in fits]
            inf = [None] * len(fits)
        else:
            r, inf = _group_fits(g, task, fits, time)
        for k, i in enumerate(members):
            rows[i], infos[i] = r[k], inf[k]
    return rows, infos


def _no_missing(sub: pd.DataFrame, task: GroupTask) -> bool:
    """True when no row of the sample misses a variable of the union (then all fits share one sample)."""
    parsed = parse_formula(_union_formula(task.fits, task.fe)[0])
    if any(f.kind in ("lag", "lead") for t in parsed.terms for f in t.factors) or \
            parsed.depvar.kind in ("lag", "lead"):
        return False
    cols = list(parsed.columns) + ([task.weights] if isinstance(task.weights, str) else [])
    check_columns(sub, cols)
    return not sub[list(dict.fromkeys(cols))].isna().to_numpy().any()


# ---------------------------------------------------------------------------- result
@dataclass
class SpecCurveResult:
    """All specifications of a curve, summary shares and the joint test.

    ``specs``: one row per specification (choices, estimate, se, t, p, ci_low,
    ci_high, df_t, nobs, vcov_type, formula; ``error`` for the ones that failed).
    ``joint``: the Simonsohn-Simmons-Nelson test (None when ``B=0``).
    """

    specs: pd.DataFrame
    level: float
    joint: pd.DataFrame | None = None
    info: dict = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        """The specifications that were estimated."""
        return self.specs[self.specs["error"].isna()]

    @property
    def failed(self) -> pd.DataFrame:
        return self.specs[self.specs["error"].notna()]

    @property
    def alpha(self) -> float:
        return 1 - self.level

    @property
    def median_estimate(self) -> float:
        return float(self.ok["estimate"].median())

    @property
    def share_significant(self) -> float:
        return float((self.ok["p"] < self.alpha).mean())

    @property
    def share_positive(self) -> float:
        """Share of estimated specifications significant at ``1 - level`` with a positive estimate."""
        ok = self.ok
        return float(((ok["p"] < self.alpha) & (ok["estimate"] > 0)).mean())

    @property
    def share_negative(self) -> float:
        ok = self.ok
        return float(((ok["p"] < self.alpha) & (ok["estimate"] < 0)).mean())

    def to_frame(self) -> pd.DataFrame:
        """The specifications table (a copy), in enumeration order."""
        return self.specs.copy()

    def curve(self) -> pd.DataFrame:
        """Estimated specifications sorted by estimate, with their rank."""
        out = self.ok.sort_values(["estimate", "spec"], kind="mergesort").reset_index(drop=True)
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        return out

    def plot(self, path=None, **kwargs):
        """The specification-curve figure (see :func:`fiproxy.report.spec_curve_plot.plot_spec_curve`)."""
        from fiproxy.report.spec_curve_plot import plot_spec_curve

        return plot_spec_curve(self, path=path, **kwargs)

    def summary(self) -> str:
        ok = self.ok
        lines = [f"Specification curve: {len(self.specs)} specifications ({len(ok)} estimated, "
                 f"{len(self.failed)} failed)",
                 f"median estimate {self.median_estimate:.6g}; range [{ok['estimate'].min():.6g}, "
                 f"{ok['estimate'].max():.6g}]",
                 f"significant at {self.alpha:g}: {self.share_significant:.1%} "
                 f"(positive {self.share_positive:.1%}, negative {self.share_negative:.1%})"]
        if self.joint is not None:
            lines.append(f"joint test under the null ({int(self.joint['B'].iloc[0])} draws, "
                         f"resampling {self.info.get('boot_cluster')}):")
            lines.append(self.joint.to_string())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------- entry point
def _canonical(outcome: str, treatment: str, controls: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
    rhs = " + ".join((treatment,) + controls)
    parsed = parse_formula(f"{outcome} ~ {rhs}")
    labels = [t.label for t in parsed.terms]
    cat = [t.label for t in parsed.terms if any(f.categorical for f in t.factors)]
    if cat:
        raise DesignError(f"spec_curve takes numeric terms only (one column each); categorical term(s) {cat} "
                          "belong in fixed_effects")
    if len(labels) != 1 + len(controls):
        raise FormulaError(f"treatment {treatment!r} and controls {list(controls)} must be single terms "
                           "(write interactions as a:b)")
    return parsed.depvar.label, labels[0], tuple(labels[1:])


def spec_curve(
    data: pd.DataFrame,
    outcomes: Any,
    treatments: Any,
    controls: Any = ((),),
    fixed_effects: Any = None,
    samples: dict | None = None,
    vcov: Any = ("iid",),
    *,
    weights: str | None = None,
    level: float = 0.95,
    B: int = 0,
    seed: int | None = None,
    boot_cluster: str | None = None,
    backend: Any = "serial",
    n_workers: int | None = None,
    panel_id: tuple[str, str] | None = None,
    drop_singletons: bool = True,
) -> SpecCurveResult:
    """Estimate every specification of a multiverse and test them jointly.

    Parameters
    ----------
    data : DataFrame (or a fiproxy Panel)
    outcomes, treatments : list of terms (``"ln_loans_gdp"``, ``"log(x)"``, ``"l(x, 1)"``) or
        {label: term} dicts. The reported coefficient is the treatment's.
    controls : list of control sets, each a list of terms or a ``"a + b"`` string
        (``[]`` = no controls), or a {label: set} dict.
    fixed_effects : list of fixed-effect structures, each a list of columns or a
        ``"prov_code + year"`` string (``a^b`` combined; ``[]`` = pooled OLS with
        intercept), or a {label: structure} dict. Default: the two-way panel_id FE.
    samples : {name: None | pandas query string | boolean mask}; default ``{"all": None}``.
    vcov : list of covariance requests as in :func:`fiproxy.twfe` (``"iid"``, ``"HC1"``,
        ``{"CRV1": "prov_code"}``, ``{"DK": 2}`` …); each reuses the same fit.
    weights : column of analytic weights, optional.
    level : confidence level of the intervals; ``1 - level`` is the significance level
        of the shares and of the joint test.
    B : draws of the joint test (:func:`fiproxy.estimators.spec_curve_joint.joint_test`);
        0 skips it.
    seed : seed of the joint test (one SeedSequence, one child per draw).
    boot_cluster : column whose clusters the joint test resamples (default: panel unit).
    backend, n_workers : execution back end (:func:`fiproxy.parallel.get_backend`):
        ``"serial"``, ``"processes"``, ``"threads"``, ``"dask"``, a ``distributed.Client``,
        an address or a Backend. Results do not depend on it.
    panel_id, drop_singletons : as in :func:`fiproxy.twfe`.

    Returns
    -------
    SpecCurveResult
    """
    if hasattr(data, "data") and isinstance(getattr(data, "data"), pd.DataFrame):
        data = data.data
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if not isinstance(B, (int, np.integer)) or isinstance(B, bool) or B < 0:
        raise ValueError(f"B must be a non-negative integer, got {B!r}")
    pid = default_panel_id(data, panel_id)
    outs = _labelled([outcomes] if isinstance(outcomes, str) else outcomes, "outcomes", str)
    treats = _labelled([treatments] if isinstance(treatments, str) else treatments, "treatments", str)
    ctrls = _labelled(controls, "controls", lambda c: " + ".join(_terms(c)) or "none")
    if fixed_effects is None:
        fixed_effects = [list(pid)] if pid else [[]]
    fes = _labelled(fixed_effects, "fixed_effects", lambda f: _fe_text(f) or "none")
    samples = {"all": None} if samples is None else samples
    if not isinstance(samples, dict) or not samples:
        raise TypeError("samples must be a non-empty dict {name: None | query string | boolean mask}")
    vcovs = list(vcov) if isinstance(vcov, (list, tuple)) else [vcov]
    vlabels = [_vcov_label(v) for v in vcovs]  # parses (and validates) every request
    if len(set(vlabels)) != len(vlabels):
        raise ValueError(f"vcov: duplicate covariance requests {vlabels}")
    if weights is not None and not isinstance(weights, str):
        raise TypeError("weights must be a column name")

    fits, meta = [], []
    for (ol, o), (tl, t), (cl, c) in itertools.product(outs.items(), treats.items(), ctrls.items()):
        y, x, cs = _canonical(str(o), str(t), _terms(c))
        fits.append(Fit(len(fits), y, x, cs))
        meta.append((ol, tl, cl))
    fe_texts = {fl: _fe_text(f) for fl, f in fes.items()}
    cols = {c for fe in fe_texts.values() for c in parse_formula(_union_formula(fits, fe)[0]).columns}
    check_columns(data, sorted(cols) + ([weights] if weights else []))
    rows_by_sample = {str(k): _sample_rows(data, str(k), v) for k, v in samples.items()}
    tasks = [GroupTask(sample=sl, rows=rows_by_sample[sl], fe=fe_texts[fl], fits=fits, vcovs=vcovs,
                       weights=weights, panel_id=pid, drop_singletons=drop_singletons)
             for fl in fes for sl in rows_by_sample]
    with backend_scope(backend, n_workers) as be:
        results = be.map(_run_group_task, tasks, shared=data)
        specs = _assemble(tasks, results, fits, meta, list(fes), vlabels, level)
        joint = None
        if B:
            from fiproxy.estimators.spec_curve_joint import joint_test

            infos = [r[1] for r in results]
            joint, bc = joint_test(data, tasks, infos, specs, B=B, seed=seed, boot_cluster=boot_cluster,
                                   backend=be, level=level)
    n_fail = int(specs["error"].notna().sum())
    if n_fail:
        warnings.warn(f"{n_fail} of {len(specs)} specifications could not be estimated; see result.failed",
                      SpecCurveWarning, stacklevel=2)
    info = {"backend": be.name, "n_workers": be.n_workers, "n_groups": len(tasks), "n_fits": len(tasks) * len(fits),
            "seed": seed, "boot_cluster": bc if B else None, "panel_id": pid}
    return SpecCurveResult(specs=specs, level=level, joint=joint, info=info)


def _run_group_task(data: pd.DataFrame, task: GroupTask):
    return run_group(data, task)


def _assemble(tasks, results, fits, meta, fe_labels, vlabels, level) -> pd.DataFrame:
    """One row per specification, ordered by outcome, treatment, controls, FE, sample, vcov."""
    fe_pos = {fl: i for i, fl in enumerate(fe_labels)}
    records = []
    n_samples = len(tasks) // len(fe_labels)
    for gi, (task, (rows, _)) in enumerate(zip(tasks, results)):
        fl, si = fe_labels[gi // n_samples], gi % n_samples
        for fit, frows in zip(fits, rows):
            ol, tl, cl = meta[fit.index]
            for vi, r in enumerate(frows):
                rec = {"_order": (fit.index, fe_pos[fl], si, vi), "outcome": ol, "treatment": tl, "controls": cl,
                       "fe": fl, "sample": task.sample, "vcov": vlabels[vi], "formula": fit.formula(task.fe)}
                rec.update({k: v for k, v in r.items() if k != "vcov_request"})
                records.append(rec)
    df = pd.DataFrame.from_records(records)
    for col in ("estimate", "se", "df_t", "nobs", "vcov_type", "collinear", "error"):
        if col not in df:
            df[col] = np.nan if col not in ("vcov_type", "collinear", "error") else None
    df = df.sort_values("_order", kind="mergesort").drop(columns="_order").reset_index(drop=True)
    df.insert(0, "spec", np.arange(1, len(df) + 1))
    df["t"] = df["estimate"] / df["se"]
    df["p"] = 2 * st.t.sf(np.abs(df["t"].to_numpy(dtype=float)), df["df_t"].to_numpy(dtype=float))
    crit = st.t.ppf(1 - (1 - level) / 2, df["df_t"].to_numpy(dtype=float))
    df["ci_low"] = df["estimate"] - crit * df["se"]
    df["ci_high"] = df["estimate"] + crit * df["se"]
    df["nobs"] = df["nobs"].astype("Int64")
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    order = ["spec", "outcome", "treatment", "controls", "fe", "sample", "vcov", "estimate", "se", "t", "p",
             "ci_low", "ci_high", "df_t", "nobs", "vcov_type", "collinear", "formula", "error"]
    return df[order]
