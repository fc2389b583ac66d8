"""Arellano-Bond difference GMM and Blundell-Bond system GMM for dynamic panels.

Model: ``y_it = Σ_l α_l y_i,t-l + x_it'β + η_i + v_it`` with few periods and
many groups. The individual effect ``η_i`` is removed by first differences or
forward orthogonal deviations and the transformed equation is estimated by GMM
with lagged levels as instruments (Arellano and Bond 1991, Review of Economic
Studies 58: 277-297). System GMM adds the levels equation instrumented by
lagged differences (Arellano and Bover 1995, J. Econometrics 68: 29-51;
Blundell and Bond 1998, J. Econometrics 87: 115-143). Two-step standard errors
carry the Windmeijer (2005) correction; instrument collapsing, forward
orthogonal deviations and difference-in-Hansen tests follow Roodman (2009,
Stata Journal 9: 86-136), whose ``xtabond2`` conventions are reproduced:

- regressor roles decide the instruments: the dependent variable's lags 2 and
  deeper (``y_lags_iv``), ``predetermined`` variables' lags 1 and deeper,
  ``endogenous`` variables' lags 2 and deeper (GMM style, one column per period
  and lag unless ``collapse``); ``exog`` variables instrument themselves
  (IV style); in system GMM the levels equation gets ``Δv`` dated ``t-a+1`` for a
  GMM variable with lag limits ``(a, b)``;
- time dummies enter as regressors and as IV-style instruments (transformed
  equation in difference GMM, levels equation in system GMM); system GMM has a
  constant that is instrumented by itself in the levels equation;
- the one-step weight assumes i.i.d. level errors with no individual-effect
  variance (Roodman 2009, eq. 26); ``robust`` gives cluster-robust one-step and
  Windmeijer-corrected two-step covariances; ``small`` applies
  ``(n-1)/(n-k) · G/(G-1)`` and a t(G-1) reference distribution.

Regressor terms use the fixest lag syntax: ``"w"``, ``"l(w, 1)"``, ``"l(k, 0:2)"``.

The matrices are small (instruments × instruments), so BLAS runs single-threaded
during a fit (through threadpoolctl when it is installed): on a busy machine
multi-threaded BLAS made the abdata system-GMM fit ten times slower.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2

from fiproxy.estimators.gmm_estimate import estimate, independent_columns
from fiproxy.estimators.gmm_instruments import (
    InstrumentBlock, gmm_block_levels, gmm_block_transformed, iv_block,
)
from fiproxy.estimators.gmm_panel import build_grid, lag, transform_matrix
from fiproxy.estimators.gmm_panel import transform as apply_transform
from fiproxy.estimators.gmm_terms import (
    LaggedVar, check_columns, expand_globs, lag_label, parse_terms,
)
from fiproxy.estimators.gmm_tests import ar_test, difference_hansen, hansen, sargan
from fiproxy.estimators.result import Result

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - speed only
    threadpool_limits = None

__all__ = ["gmm"]

_LEVELS_GROUP = "GMM instruments for levels"
_INTERCEPT = "Intercept"


def _lag_spec(spec, role: str, default: tuple[int, int | None]) -> list[tuple[LaggedVar, tuple[int, int | None]]]:
    """Terms with the GMM lag limits of their base variable."""
    if spec is None:
        return []
    if isinstance(spec, Mapping):
        out = []
        for term, lim in spec.items():
            if lim is None:
                lim = default
            if not (isinstance(lim, tuple) and len(lim) == 2):
                raise ValueError(f"{role}: lag limits for {term!r} must be a pair (first, last), got {lim!r}")
            out.extend((t, lim) for t in parse_terms(term, role))
        return out
    return [(t, default) for t in parse_terms(spec, role)]


def _resolve_limits(lim: tuple[int, int | None], max_lags: int | None, t: int, what: str) -> tuple[int, int]:
    a, b = lim
    if not isinstance(a, (int, np.integer)) or a < 0:
        raise ValueError(f"GMM lag limits for {what}: first lag must be an integer >= 0, got {a!r}")
    b = t - 1 if b is None else b
    if max_lags is not None:
        b = min(b, max_lags)
    if b < a:
        raise ValueError(f"GMM lag limits for {what}: last lag {b} is below first lag {a}")
    return int(a), int(b)


def _single_thread_blas(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = threadpool_limits(1, user_api="blas") if threadpool_limits is not None else contextlib.nullcontext()
        with ctx:
            return fn(*args, **kwargs)
    return wrapper


@_single_thread_blas
def gmm(
    data: pd.DataFrame,
    y: str,
    *,
    panel: tuple[str, str],
    lags: int | Sequence[int] = 1,
    exog: Sequence[str] | None = None,
    predetermined: Sequence[str] | Mapping[str, tuple[int, int | None]] | None = None,
    endogenous: Sequence[str] | Mapping[str, tuple[int, int | None]] | None = None,
    iv: Sequence[str] | None = None,
    iv_equation: str = "both",
    y_lags_iv: tuple[int, int | None] = (2, None),
    system: bool = False,
    transform: str = "fd",
    steps: int = 2,
    collapse: bool = False,
    time_dummies: bool = True,
    robust: bool = True,
    windmeijer: bool = True,
    max_lags: int | None = None,
    small: bool = False,
    ar_orders: int = 2,
) -> Result:
    """Difference or system GMM estimate of a dynamic panel model.

    Parameters
    ----------
    data : DataFrame in long format, one row per group and period.
    y : dependent variable.
    panel : ``(group column, time column)``; time must be integer periods.
    lags : number of lags of ``y`` as regressors (``2`` → ``l(y,1), l(y,2)``) or a list of lags.
    exog : strictly exogenous regressor terms; IV-style instruments for themselves.
    predetermined : regressor terms correlated with past errors only; GMM-style
        instruments from lags ``(1, None)`` of their variable, or the limits given
        as ``{term: (first, last)}`` (``None`` = all available).
    endogenous : regressor terms correlated with current errors; default lags ``(2, None)``.
    iv : extra IV-style instruments that are not regressors (column names,
        ``l()`` terms or patterns such as ``"yr*"``); ``iv_equation`` places them in
        the ``"transformed"``, ``"levels"`` or ``"both"`` equations.
    y_lags_iv : GMM lag limits for the dependent variable.
    system : add the levels equation (Blundell-Bond system GMM).
    transform : ``"fd"`` first differences or ``"fod"`` forward orthogonal deviations.
    steps : 1 or 2.
    collapse : one instrument column per lag instead of per period and lag.
    time_dummies : add period dummies as regressors and instruments.
    robust : cluster-robust one-step covariance; with ``steps=2`` and ``windmeijer``
        the Windmeijer-corrected covariance.
    windmeijer : apply the Windmeijer (2005) correction to two-step standard errors.
    max_lags : deepest lag used by any GMM-style instrument.
    small : small-sample scaling of the covariance and t(G-1) inference.
    ar_orders : highest order of the Arellano-Bond autocorrelation tests.

    Returns
    -------
    Result with ``model`` ``"gmm-difference"`` or ``"gmm-system"``; ``stats`` holds
    ``n_instruments``, ``n_groups``, ``hansen_j``, ``sargan`` (dicts with
    ``stat, df, p``), ``diff_hansen`` (per instrument group), ``ar1``, ``ar2``
    (``z, p``), ``wald`` and ``sigma2``; ``warnings`` name instrument proliferation,
    gaps and dropped regressors.
    """
    spec = dict(y=y, panel=tuple(panel), lags=lags, exog=exog, predetermined=predetermined,
                endogenous=endogenous, iv=iv, iv_equation=iv_equation, y_lags_iv=y_lags_iv,
                system=system, transform=transform, steps=steps, collapse=collapse,
                time_dummies=time_dummies, robust=robust, windmeijer=windmeijer,
                max_lags=max_lags, small=small, ar_orders=ar_orders)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if transform not in ("fd", "fod"):
        raise ValueError(f"transform must be 'fd' (first differences) or 'fod' (forward orthogonal deviations), got {transform!r}")
    if steps not in (1, 2):
        raise ValueError(f"steps must be 1 or 2, got {steps!r}")
    if iv_equation not in ("both", "transformed", "levels"):
        raise ValueError(f"iv_equation must be 'both', 'transformed' or 'levels', got {iv_equation!r}")
    if not system and iv_equation == "levels":
        raise ValueError("iv_equation='levels' needs system=True: difference GMM has no levels equation")
    if not (isinstance(panel, (tuple, list)) and len(panel) == 2):
        raise ValueError(f"panel must be (group column, time column), got {panel!r}")
    if max_lags is not None and (not isinstance(max_lags, (int, np.integer)) or max_lags < 1):
        raise ValueError(f"max_lags must be a positive integer, got {max_lags!r}")
    id_col, time_col = panel
    y_lags = list(range(1, lags + 1)) if isinstance(lags, (int, np.integer)) else sorted(set(lags))
    if any((not isinstance(v, (int, np.integer))) or v < 1 for v in y_lags):
        raise ValueError(f"lags must be a non-negative integer or a list of positive lags, got {lags!r}")

    ex = parse_terms(exog, "exog")
    pre = _lag_spec(predetermined, "predetermined", (1, None))
    endo = _lag_spec(endogenous, "endogenous", (2, None))
    iv_terms = parse_terms(expand_globs(iv, [str(c) for c in data.columns], "iv"), "iv")
    check_columns(data, [id_col, time_col, y], "panel/y")
    for role, terms in (("exog", ex), ("predetermined", [t for t, _ in pre]),
                        ("endogenous", [t for t, _ in endo]), ("iv", iv_terms)):
        check_columns(data, sorted({t.var for t in terms}), role)

    clash = {t.var for t in ex} & {t.var for t, _ in pre + endo}
    if clash:
        raise ValueError(f"{sorted(clash)} listed both as exogenous and as predetermined/endogenous")
    regs = [LaggedVar(y, l) for l in y_lags] + ex + [t for t, _ in pre] + [t for t, _ in endo]
    labels = [t.label for t in regs]
    if len(set(labels)) != len(labels):
        dup = sorted({l for l in labels if labels.count(l) > 1})
        raise ValueError(f"regressor(s) {dup} appear in more than one role")
    if any(t.var == y and t.lag == 0 for t in regs):
        raise ValueError(f"the dependent variable {y!r} cannot be a current-period regressor")
    gmm_vars: dict[str, tuple[int, int | None]] = {}
    for role, items in (("predetermined", pre), ("endogenous", endo)):
        for t, lim in items:
            if t.var == y:
                raise ValueError(f"{role}: use lags= and y_lags_iv= for the dependent variable {y!r}")
            if t.var in gmm_vars and gmm_vars[t.var] != lim:
                raise ValueError(f"{t.var!r} has two different GMM lag limits ({gmm_vars[t.var]} and {lim})")
            gmm_vars[t.var] = lim
    if not regs and not time_dummies:
        raise ValueError("the model has no regressors")

    grid = build_grid(data, id_col, time_col)
    n_grp, n_t = grid.shape
    warnings: list[str] = []
    cache: dict[str, np.ndarray] = {}

    def level(var: str) -> np.ndarray:
        if var not in cache:
            try:
                cache[var] = grid.values(data[var])
            except (ValueError, TypeError):
                raise TypeError(f"column {var!r} must be numeric, got dtype {data[var].dtype}") from None
        return cache[var]

    y0 = level(y)
    x0_list = [lag(level(t.var), t.lag) for t in regs]
    names = list(labels)
    if time_dummies:
        for p in grid.periods:
            x0_list.append(np.broadcast_to((grid.periods == p).astype(float), (n_grp, n_t)).copy())
            names.append(f"{time_col}_{p}")
    if system:
        x0_list.append(np.ones((n_grp, n_t)))
        names.append(_INTERCEPT)
    x0 = np.stack(x0_list, axis=2)
    iv_exog = [lag(level(t.var), t.lag) for t in ex]
    iv_extra = [lag(level(t.var), t.lag) for t in iv_terms]

    observed = grid.observed
    complete = observed & np.isfinite(y0) & np.isfinite(x0).all(axis=2)
    for v in iv_exog + iv_extra:
        complete &= np.isfinite(v)
    raw_missing = observed & ~np.all([np.isfinite(level(v)) for v in {y} | {t.var for t in regs + iv_terms}], axis=0)
    if raw_missing.any():
        warnings.append(f"{int(raw_missing.sum())} observations have missing or infinite values in the model's variables and were dropped (listwise deletion)")

    m_tr = transform_matrix(transform, complete)
    rows_tr = np.abs(m_tr).sum(axis=2) > 0
    gaps = grid.gaps()
    if gaps["n_groups"]:
        ex_txt = ", ".join(f"{grid.id_col}={i!r} at {p}" for i, p in gaps["examples"])
        msg = (f"panel has gaps: {gaps['n_groups']} groups miss {gaps['n_missing']} interior periods (e.g. {ex_txt}); "
               "lags across a gap are missing, so those observations lose lagged regressors and their GMM instruments are set to zero")
        if transform == "fd":
            first_ok = complete & (np.cumsum(complete, axis=1) > 1)
            lost = int((first_ok & ~rows_tr).sum())
            if lost:
                msg += (f"; first differences across a gap are undefined, so {lost} observations drop out of the "
                        "differenced equation (transform='fod' keeps observations next to gaps)")
        warnings.append(msg)

    y_tr = apply_transform(y0, m_tr, rows_tr)
    x_tr = apply_transform(x0, m_tr, rows_tr)
    n_rows = 2 * n_t if system else n_t
    sample = np.zeros((n_grp, n_rows), dtype=bool)
    sample[:, :n_t] = rows_tr
    if system:
        sample[:, n_t:] = complete
    if not sample[:, :n_t].any():
        need = max([t.lag for t in regs] + [0])
        raise ValueError(
            f"no observation has what the transformed equation needs: regressor lags up to {need} and one more "
            f"period for the {'first difference' if transform == 'fd' else 'forward deviation'}; "
            f"the longest run of complete consecutive periods is {int(_longest_run(complete))}"
        )

    yy = np.zeros((n_grp, n_rows))
    xx = np.zeros((n_grp, n_rows, x0.shape[2]))
    yy[:, :n_t] = np.nan_to_num(y_tr)
    xx[:, :n_t] = np.nan_to_num(x_tr)
    e_map = np.zeros((n_grp, n_rows, n_t))
    e_map[:, :n_t] = m_tr
    if system:
        yy[:, n_t:] = np.nan_to_num(y0)
        xx[:, n_t:] = np.nan_to_num(x0)
        e_map[:, n_t:] = np.eye(n_t)[None] * complete[:, :, None]
    yy *= sample
    xx *= sample[..., None]
    e_map *= sample[..., None]

    # ---- instruments
    blocks: list[InstrumentBlock] = []
    if system:
        blocks.append(iv_block([_INTERCEPT], np.ones((n_grp, n_t, 1)), "levels", "_constant"))
    iv_tr_group, iv_lev_group = "iv, transformed equation", "iv, levels equation"
    if ex:
        vals = np.stack(iv_exog, axis=2)
        blocks.append(iv_block([t.label for t in ex], apply_transform(vals, m_tr, rows_tr), "transformed", iv_tr_group))
        if system:
            blocks.append(iv_block([t.label for t in ex], vals, "levels", iv_lev_group))
    if iv_terms:
        vals = np.stack(iv_extra, axis=2)
        if iv_equation in ("both", "transformed"):
            blocks.append(iv_block([t.label for t in iv_terms], apply_transform(vals, m_tr, rows_tr), "transformed", iv_tr_group))
        if system and iv_equation in ("both", "levels"):
            blocks.append(iv_block([t.label for t in iv_terms], vals, "levels", iv_lev_group))
    if time_dummies:
        td = x0[:, :, len(regs):len(regs) + n_t]
        td_names = names[len(regs):len(regs) + n_t]
        if system:
            blocks.append(iv_block(td_names, td, "levels", iv_lev_group))
        else:
            blocks.append(iv_block(td_names, apply_transform(td, m_tr, rows_tr), "transformed", iv_tr_group))
    gmm_specs = [(y, y_lags_iv)] + list(gmm_vars.items())
    level_blocks = []
    for var, lim in gmm_specs:
        a, b = _resolve_limits(lim, max_lags, n_t, var)
        blocks.append(gmm_block_transformed(var, level(var), (a, b), collapse, grid.periods, f"gmm({var})"))
        if system:
            level_blocks.append(gmm_block_levels(var, level(var), (a, b), collapse, grid.periods, f"gmm({var})"))
    blocks.extend(level_blocks)

    z_cols, z_labels, z_groups = [], [], []
    for blk in blocks:
        full = np.zeros((n_grp, n_rows, blk.values.shape[2]))
        off = 0 if blk.equation == "transformed" else n_t
        full[:, off:off + n_t] = blk.values
        z_cols.append(full)
        z_labels.extend(f"{lab} [{blk.equation}]" for lab in blk.labels)
        z_groups.extend([(blk.group, blk.equation)] * len(blk.labels))
    z = np.concatenate(z_cols, axis=2) * sample[..., None]
    flat = sample.reshape(-1)
    z_in = z.reshape(-1, z.shape[2])[flat]
    n_raw = int((np.abs(z_in).sum(axis=0) > 0).sum())
    keep_z = independent_columns(z_in)
    z = z[:, :, keep_z]
    z_labels = [z_labels[i] for i in keep_z]
    z_groups = [z_groups[i] for i in keep_z]

    # ---- regressors: drop collinear columns, the intercept considered first
    order = ([names.index(_INTERCEPT)] if system else []) + [i for i, nm in enumerate(names) if nm != _INTERCEPT]
    xf = xx.reshape(-1, xx.shape[2])[flat]
    kept = sorted(order[i] for i in independent_columns(xf[:, order]))
    dropped = [names[i] for i in range(len(names)) if i not in kept]
    user_dropped = [d for d in dropped if d in labels]
    if user_dropped:
        warnings.append(f"regressors {user_dropped} are collinear with the others (or constant after the transformation) and were dropped")
    xx, x0 = xx[:, :, kept], x0[:, :, kept]
    names = [names[i] for i in kept]
    k, j = len(names), z.shape[2]

    n_groups = int(sample.any(axis=1).sum())
    n_obs_tr = int(sample[:, :n_t].sum())
    n_obs_lev = int(sample[:, n_t:].sum()) if system else 0
    n_est_rows = int(sample.sum())
    if j < k:
        raise ValueError(f"model not identified: {k} regressors but only {j} linearly independent instruments")
    if n_raw > n_est_rows or j >= n_est_rows:
        raise ValueError(
            f"{n_raw} instruments for {n_est_rows} observations ({j} linearly independent): instruments that "
            "outnumber the observations fit the endogenous regressors exactly, so GMM collapses to least squares "
            "on the transformed equation and inherits its dynamic-panel bias; use collapse=True or max_lags= "
            "to cut the instrument count"
        )
    if j > n_groups:
        warnings.append(
            f"{j} instruments exceed the {n_groups} groups: the two-step weight matrix is singular (a generalised "
            "inverse is used), the Hansen test is weakened and endogenous regressors are overfitted toward OLS "
            "(Roodman 2009); use collapse=True or max_lags= to cut the instrument count"
        )

    fit = estimate(xx, yy, z, e_map, sample & (np.arange(n_rows) < n_t)[None, :],
                   2.0 if transform == "fd" else 1.0, windmeijer=(steps == 2 and robust and windmeijer))
    if fit.s1_singular and j <= n_groups:
        warnings.append("the one-step moment matrix Z'HZ is singular; a generalised inverse was used")

    if steps == 1:
        b, vu, a, e, ze = fit.b1, fit.vu1, fit.a1, fit.e1, fit.ze1
        v = fit.v1_robust if robust else fit.v1
        vtype = "cluster-robust by group (one-step)" if robust else "one-step, i.i.d. errors"
    else:
        b, vu, a, e, ze = fit.b2, fit.vu2, fit.a2, fit.e2, fit.ze2
        if robust and windmeijer:
            v, vtype = fit.v2_windmeijer, "two-step, Windmeijer-corrected"
        else:
            v, vtype = fit.vu2, "two-step, uncorrected"
    n_main = n_obs_lev if system else n_obs_tr
    v_report, df_t = v, None
    if small:
        scale = (n_obs_tr / (n_obs_tr - k)) if (steps == 1 and not robust) else \
            (n_main - 1) / (n_main - k) * n_groups / (n_groups - 1)
        v_report, df_t = v * scale, float(n_groups - 1)
        vtype += ", small-sample scaled"

    # ---- specification tests
    hj = hansen(fit, k)
    groups: dict[str, list[int]] = {}
    for idx, (grp, eq) in enumerate(z_groups):
        if grp != "_constant":
            groups.setdefault(grp, []).append(idx)
        if system and eq == "levels" and grp.startswith("gmm("):
            groups.setdefault(_LEVELS_GROUP, []).append(idx)
    diff_h = difference_hansen(fit, xx, yy, z, {g: np.asarray(c) for g, c in groups.items()}, hj["stat"])

    if transform == "fd":
        w = e[:, :n_t]
        x_w = xx[:, :n_t]
        m_fd = m_tr
    else:
        m_fd = transform_matrix("fd", complete)
        e_lev = np.where(complete, np.nan_to_num(y0) - np.nan_to_num(x0) @ b, 0.0)
        w = np.einsum("nts,ns->nt", m_fd, e_lev)
        x_w = np.einsum("nts,nsk->ntk", m_fd, np.nan_to_num(x0) * complete[..., None])
    ar_kw = dict(v=v, vu=vu, zx=fit.zx, a=a)
    if steps == 1 and not robust:
        ar_kw.update(z=z, cov_map=np.einsum("nrt,nst->nrs", e_map, m_fd),
                     fd_cov=np.einsum("nrt,nst->nrs", m_fd, m_fd), sig2=fit.sig2)
    else:
        ar_kw.update(ze=ze)
    ar = {f"ar{m}": ar_test(m, w, x_w, **ar_kw) for m in range(1, ar_orders + 1)}

    slope = [i for i, nm in enumerate(names) if nm != _INTERCEPT]
    bs, vs = b[slope], v_report[np.ix_(slope, slope)]
    wald_stat = float(bs @ np.linalg.lstsq(vs, bs, rcond=None)[0]) if slope else float("nan")
    wald = {"stat": wald_stat, "df": len(slope), "p": float(chi2.sf(wald_stat, len(slope)))}

    per_group = sample[:, n_t:].sum(axis=1) if system else sample.sum(axis=1)
    per_group = per_group[per_group > 0]
    stats = {
        "n_instruments": j, "n_groups": n_groups, "n_regressors": k,
        "n_obs_transformed": n_obs_tr, "n_obs_levels": n_obs_lev,
        "obs_per_group": {"min": int(per_group.min()), "avg": float(per_group.mean()), "max": int(per_group.max())},
        "hansen_j": hj, "sargan": sargan(fit, k), "diff_hansen": diff_h, **ar, "wald": wald,
        "sigma2": fit.sig2, "dropped_regressors": dropped,
    }
    params = pd.Series(b, index=names, name="estimate")
    vcov = pd.DataFrame((v_report + v_report.T) / 2, index=names, columns=names)
    extra = {
        "instruments": z_labels,
        "instrument_groups": [g for g, _ in z_groups],
        "params_one_step": pd.Series(fit.b1, index=names),
        "regressor_roles": {"dependent lags": [lag_label(y, l) for l in y_lags], "exog": [t.label for t in ex],
                            "predetermined": [t.label for t, _ in pre], "endogenous": [t.label for t, _ in endo]},
    }
    return Result(params=params, vcov=vcov, nobs=n_main, model="gmm-system" if system else "gmm-difference",
                  spec=spec, df_t=df_t, vcov_type=vtype, stats=stats, warnings=tuple(warnings), extra=extra)


def _longest_run(mask: np.ndarray) -> int:
    best = 0
    run = np.zeros(mask.shape[0], dtype=int)
    for t in range(mask.shape[1]):
        run = np.where(mask[:, t], run + 1, 0)
        best = max(best, int(run.max(initial=0)))
    return best
