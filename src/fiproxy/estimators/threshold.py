"""Fixed-effects panel threshold regression (Hansen 1999).

    y_it = mu_i + x_it'b + z_it'd_1 1(q_it <= g_1) + z_it'd_2 1(g_1 < q_it <= g_2) + ... + e_it

with one to three thresholds g estimated by least squares over a grid of
candidate values (sequential estimation with refinement), bootstrap F tests
for the number of thresholds, likelihood-ratio confidence sets for each
threshold, and the regime slopes with cluster-robust or homoskedastic
standard errors.

References: Hansen, B. E. (1999), "Threshold effects in non-dynamic panels:
Estimation, testing, and inference", Journal of Econometrics 93: 345-368;
Wang, Q. (2015), "Fixed-effect panel threshold model using Stata", Stata
Journal 15(1): 121-134. Method notes (unbalanced panels, grids, published
numbers): docs/threshold.md.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fiproxy.estimators.call_order import require_formula_first
from fiproxy.estimators.demean import factorize_fe
from fiproxy.estimators.result import Result
from fiproxy.estimators.threshold_bootstrap import UnitResampler, bootstrap_F
from fiproxy.estimators.threshold_grid import (
    candidate_grid,
    lr_confidence_set,
    lr_critical_value,
    min_regime_size,
)
from fiproxy.estimators.threshold_sequential import (
    NoAdmissibleThreshold,
    SequentialFit,
    ThresholdProblem,
    panel_transform,
    sequential_fit,
)
from fiproxy.estimators.threshold_slopes import fit_slopes, regime_design, regime_names, slope_vcov

__all__ = ["threshold"]

_TRANSFORMS = ("within", "hansen")
_TEST_NAMES = ("single", "double", "triple")
# fewer candidate thresholds than this: the LR set and the bootstrap become coarse
_FEW_CANDIDATES = 10


@dataclass(frozen=True)
class _Spec:
    outcome: str
    exog: list
    unit: str


def _parse_formula(formula: str) -> _Spec:
    """``"y ~ x1 + x2 | unit"`` -> outcome, regime-independent regressors, unit id."""
    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must look like 'y ~ x1 + x2 | unit', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    if "|" not in rhs:
        raise ValueError("the threshold model absorbs unit fixed effects: write the panel unit after '|', "
                         f"e.g. 'y ~ x1 + x2 | id' (got {formula!r})")
    rhs, fe = rhs.split("|", 1)
    fes = [f.strip() for f in fe.split("+") if f.strip()]
    if len(fes) != 1:
        raise ValueError(f"exactly one fixed effect (the panel unit) is supported, got {fes}; "
                         "add time dummies as regime-independent regressors instead")
    terms = [t.strip() for t in rhs.split("+") if t.strip() and t.strip() not in ("0", "1")]
    return _Spec(outcome=lhs.strip(), exog=terms, unit=fes[0])


def _check_columns(data: pd.DataFrame, cols: list[str]) -> None:
    for c in cols:
        if c not in data.columns:
            close = difflib.get_close_matches(c, [str(x) for x in data.columns], n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise KeyError(f"column {c!r} not found in data{hint}")


def _per_threshold(value, n: int, name: str, cast) -> tuple:
    vals = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * n
    if len(vals) != n:
        raise ValueError(f"{name} needs one value per threshold ({n}), got {len(vals)}")
    return tuple(cast(v) for v in vals)


def _prepare(data, spec, q, regime, time, cluster):
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    regime = [regime] if isinstance(regime, str) else list(regime)
    if not regime:
        raise ValueError("regime must name at least one regime-dependent regressor")
    overlap = set(regime) & set(spec.exog)
    if overlap:
        raise ValueError(f"{sorted(overlap)} appear both as regime-independent and regime-dependent "
                         "regressors; list each variable once")
    extra = [c for c in (time, cluster) if c is not None]
    needed = [spec.outcome, *spec.exog, *regime, q, spec.unit, *extra]
    _check_columns(data, needed)
    frame = data[list(dict.fromkeys(needed))]
    bad = {c: int(frame[c].isna().sum()) for c in frame.columns if frame[c].isna().any()}
    if bad:
        raise ValueError(f"missing values in {bad}; drop or fill them explicitly before estimation")
    for c in [spec.outcome, *spec.exog, *regime, q]:
        if not pd.api.types.is_numeric_dtype(frame[c]):
            raise TypeError(f"column {c!r} must be numeric, has dtype {frame[c].dtype}")
        if not np.isfinite(frame[c].to_numpy(dtype=float)).all():
            raise ValueError(f"column {c!r} has infinite values")
    if time is not None and frame.duplicated([spec.unit, time]).any():
        raise ValueError(f"duplicate ({spec.unit}, {time}) pairs: each unit may appear once per period")
    sort_keys = [spec.unit] + ([time] if time is not None else [])
    frame = frame.sort_values(sort_keys, kind="stable").reset_index(drop=True)
    return frame, regime


def threshold(
    formula: str,
    data: pd.DataFrame,
    *,
    q: str,
    regime: str | list[str],
    n_thresholds: int = 1,
    trim: float | list[float] = 0.01,
    grid: str | int = "all",
    bootstrap: int | list[int] = 300,
    bootstrap_scheme: str = "residual",
    level: float = 0.95,
    vcov="CRV1",
    time: str | None = None,
    cluster: str | None = None,
    transform: str = "within",
    seed: int | None = None,
    n_jobs: int = 1,
    backend=None,
) -> Result:
    """Hansen (1999) fixed-effects panel threshold model.

    Parameters
    ----------
    formula : ``"y ~ x1 + x2 | unit"`` — outcome, regime-independent regressors
        (``"y ~ 1 | unit"`` for none) and the panel unit whose fixed effects are absorbed.
    data : DataFrame, one row per unit and period.
    q : threshold variable.
    regime : regime-dependent regressor(s) (their slopes change at each threshold).
    n_thresholds : 1, 2 or 3 (estimated sequentially, the first refined once the second is known).
    trim : minimum share of observations per regime, one value or one per threshold
        (Stata xthreg ``trim()``; default 0.01).
    grid : ``"all"`` (every distinct value of q, exact) or an integer qn for Hansen's
        quantile grid over the distinct values (``400`` as in Hansen 1999 and xthreg ``grid(400)``).
    bootstrap : bootstrap replications for the F tests (one value or one per test; 0 skips a test).
    bootstrap_scheme : ``"residual"`` (Hansen: whole-unit residual vectors; units draw only among
        units with the same T in unbalanced panels) or ``"wild"`` (Rademacher sign per unit).
    level : confidence level of the likelihood-ratio sets (c = -2 ln(1 - sqrt(level))).
    vcov : ``"CRV1"`` (by the unit, default), ``{"CRV1": column}``, ``"iid"`` (xtreg-fe dof)
        or ``"hansen"`` (sigma^2 = SSR/(N - G) as in Hansen 1999).
    time : period column; sorts rows within unit and is required for ``transform="hansen"``.
    cluster : extra cluster column for ``vcov={"CRV1": cluster}``.
    transform : ``"within"`` (demeaning; exact for unbalanced panels) or ``"hansen"``
        (demean, then delete each unit's last period, Hansen 1999 Section 2 — reproduces
        his published second threshold with ``grid=400``).
    seed : seed of the bootstrap (one SeedSequence; per-draw streams, independent of n_jobs).
    n_jobs : parallel workers for the bootstrap (joblib; -1 = all cores).
    backend : execution back end for the bootstrap instead of ``n_jobs`` (see
        :func:`fiproxy.parallel.get_backend`: ``"processes"``, ``"dask"``, a Client …; ``n_jobs``
        is then its number of workers); draws in fixed chunks, identical on every back end.

    Returns
    -------
    Result with ``model="threshold"``: regime-independent slopes and regime slopes
    (``z[q<=g1]``, ``z[g1<q<=g2]``, ``z[q>g2]``); ``stats`` holds the thresholds,
    SSRs, F statistics, bootstrap p-values and critical values, LR bounds;
    ``extra["thresholds"]`` and ``extra["tests"]`` are tables, ``extra["lr_profiles"]``
    the SSR/LR profiles and ``extra["bootstrap_F"]`` the bootstrap draws.
    """
    require_formula_first("threshold", formula, data)
    if n_thresholds not in (1, 2, 3):
        raise ValueError(f"n_thresholds must be 1, 2 or 3 (Hansen's sequential procedure), got {n_thresholds!r}")
    if transform not in _TRANSFORMS:
        raise ValueError(f"transform must be one of {_TRANSFORMS}, got {transform!r}")
    if transform == "hansen" and time is None:
        raise ValueError("transform='hansen' deletes each unit's last period: pass time=<period column>")
    trims = _per_threshold(trim, n_thresholds, "trim", float)
    if not all(0 < t < 0.5 for t in trims):
        raise ValueError(f"trim must be in (0, 0.5), got {trims}")
    reps = _per_threshold(bootstrap, n_thresholds, "bootstrap", int)
    if any(b < 0 for b in reps):
        raise ValueError(f"bootstrap replications must be >= 0, got {reps}")
    lr_critical_value(level)  # validates level
    spec = _parse_formula(formula)
    frame, regime = _prepare(data, spec, q, regime, time, cluster)
    warn: list[str] = []

    unit = factorize_fe(frame[spec.unit])[:, 0]
    t_i = np.bincount(unit)
    min_t = 3 if transform == "hansen" else 2
    if (t_i < min_t).any():
        short = int((t_i < min_t).sum())
        keep_rows = t_i[unit] >= min_t
        warn.append(f"dropped {short} unit(s) with fewer than {min_t} periods "
                    f"({int((~keep_rows).sum())} rows): they carry no within-unit information")
        frame = frame[keep_rows].reset_index(drop=True)
        unit = factorize_fe(frame[spec.unit])[:, 0]
        t_i = np.bincount(unit)
    if len(t_i) < 2:
        raise ValueError("the threshold model needs at least 2 units with 2+ periods each")
    balanced = bool((t_i == t_i[0]).all())
    kept = np.ones(len(frame), dtype=bool)
    if transform == "hansen":
        kept[np.cumsum(t_i) - 1] = False  # rows are sorted by unit, then time
    nobs, n_units = len(frame), len(t_i)
    nrows = int(kept.sum())

    y = frame[spec.outcome].to_numpy(dtype=float)
    X = frame[spec.exog].to_numpy(dtype=float) if spec.exog else np.empty((nobs, 0))
    z = frame[regime].to_numpy(dtype=float)
    qv = frame[q].to_numpy(dtype=float)

    cand = candidate_grid(qv, trims[0], grid)
    n_distinct = len(np.unique(qv))
    if len(cand) == 0:
        raise ValueError(
            f"threshold variable {q!r} has {n_distinct} distinct values; with trim={trims[0]} every "
            f"regime needs at least {min_regime_size(trims[0], nobs)} of {nobs} observations, which "
            "leaves no candidate threshold. Lower trim or use a threshold variable with more distinct values")
    if len(cand) < _FEW_CANDIDATES:
        warn.append(f"only {len(cand)} candidate thresholds ({q!r} has {n_distinct} distinct values): the "
                    "LR confidence set is limited to these points and the bootstrap distribution is coarse")
    problem = ThresholdProblem(unit=unit, kept=kept, q=qv, z=z,
                               Xt=panel_transform(X, unit, kept) if X.shape[1] else X,
                               Zt=panel_transform(z, unit, kept), grid=cand,
                               m=tuple(min_regime_size(t, nobs) for t in trims), df=nobs - n_units)
    _check_within_variation(problem, spec.exog, regime)
    yt = problem.transform(y)

    try:
        fit = sequential_fit(problem, yt, n_thresholds)
    except NoAdmissibleThreshold as exc:
        raise ValueError(
            f"cannot estimate {n_thresholds} thresholds: {exc}. Threshold variable {q!r} has {n_distinct} "
            f"distinct values and {len(cand)} candidates after trimming; reduce n_thresholds or trim") from exc

    if backend is None:
        tests, draws, boot_warn = _bootstrap_tests(problem, yt, fit, n_thresholds, reps, seed, n_jobs,
                                                   bootstrap_scheme, unit, kept)
    else:
        from fiproxy.parallel import backend_scope

        with backend_scope(backend, None if n_jobs in (None, 0, 1) else n_jobs) as be:
            tests, draws, boot_warn = _bootstrap_tests(problem, yt, fit, n_thresholds, reps, seed, be,
                                                       bootstrap_scheme, unit, kept)
    warn += boot_warn
    thr_table, profiles = _threshold_table(problem, fit, n_thresholds, level)

    gammas = [float(problem.grid[j]) for j in fit.thresholds(n_thresholds)]
    Xfull = np.hstack([problem.Xt, problem.transform(regime_design(z, qv, gammas))])
    names = list(spec.exog) + regime_names(regime, gammas)
    beta, resid, bread = fit_slopes(Xfull, yt)
    clusters = {spec.unit: unit}
    if cluster is not None and cluster != spec.unit:
        clusters[cluster] = factorize_fe(frame[cluster])[:, 0]
    used = kept  # rows entering the regression

    def vcov_fn(v):
        V, df_t, label = slope_vcov(v, Xfull[used], resid[used], bread, unit[used],
                                    {k: c[used] for k, c in clusters.items()}, nobs)
        return pd.DataFrame(V, index=names, columns=names), df_t, label

    V, df_t, label = vcov_fn(vcov)
    ssr = float(resid @ resid)
    stats = {
        "r2_within": 1.0 - ssr / float(yt @ yt),
        "rss": ssr,
        "ssr_linear": fit.ssr0,
        "n_units": n_units,
        "rows_after_transform": nrows,
        "balanced": balanced,
        "n_candidates": len(cand),
        "lr_crit": lr_critical_value(level),
        "thresholds": gammas,
    }
    for row in thr_table.itertuples():
        tag = row.Index.lower().replace("-", "")
        stats.update({tag: row.threshold, f"{tag}_lower": row.lower, f"{tag}_upper": row.upper})
    for row in tests.itertuples():
        key = f"F{row.Index}"
        stats.update({key: row.F, f"{key}_pvalue": row.p, f"{key}_crit10": row.crit10,
                      f"{key}_crit5": row.crit5, f"{key}_crit1": row.crit1})
    tests.index = [_TEST_NAMES[i - 1] for i in tests.index]
    return Result(
        params=pd.Series(beta, index=names, name="estimate"),
        vcov=V, nobs=nobs, model="threshold",
        spec={"formula": formula, "outcome": spec.outcome, "fe": spec.unit, "q": q, "regime": regime,
              "exog": list(spec.exog), "n_thresholds": n_thresholds, "trim": trims, "grid": grid,
              "bootstrap": reps, "bootstrap_scheme": bootstrap_scheme, "level": level, "vcov": vcov,
              "time": time, "cluster": cluster, "transform": transform, "seed": seed, "n_jobs": n_jobs},
        df_t=df_t, vcov_type=label, stats=stats, warnings=tuple(warn),
        extra={"thresholds": thr_table, "tests": tests, "lr_profiles": profiles, "bootstrap_F": draws,
               "grid": problem.grid.copy()},
        _vcov_fn=vcov_fn,
    )


def _check_within_variation(problem: ThresholdProblem, exog: list, regime: list) -> None:
    for name, col in zip(list(exog) + list(regime), np.hstack([problem.Xt, problem.Zt]).T):
        if np.abs(col).max() <= 1e-12:
            raise ValueError(f"{name!r} does not vary within units: its effect is absorbed by the unit "
                             "fixed effects; remove it")


def _bootstrap_tests(problem, yt, fit: SequentialFit, n_thr, reps, seed, n_jobs, scheme, unit, kept):
    """F statistics with bootstrap p-values and critical values: (table, draws, warnings)."""
    resampler = UnitResampler(unit, kept, scheme)
    warn = []
    if scheme == "residual" and len(resampler.strata) > 1 and resampler.smallest_stratum < 10:
        warn.append("unbalanced panel: some units share their number of periods with fewer than 10 units, "
                    "so their residual vectors are resampled from very few units; consider "
                    "bootstrap_scheme='wild'")
    root = np.random.SeedSequence(seed)
    streams = root.spawn(3)
    rows, draws = {}, {}
    for k in range(1, n_thr + 1):
        F = fit.F[k - 1]
        row = {"ssr": fit.ssr(k), "mse": fit.ssr(k) / problem.df, "F": F, "p": np.nan,
               "crit10": np.nan, "crit5": np.nan, "crit1": np.nan, "B": reps[k - 1]}
        if reps[k - 1] > 0:
            null = fit.thresholds(k - 1) if k == 3 else ((fit.steps["1"].index,) if k == 2 else ())
            yhat, e = problem.fitted_and_residuals(yt, null)
            Fb, failed = bootstrap_F(problem, yhat, e, k, streams[k - 1].spawn(reps[k - 1]), resampler, n_jobs)
            if failed:
                warn.append(f"{failed} of {reps[k - 1]} bootstrap draws of F{k} found no admissible threshold "
                            "(counted as F* = 0)")
            row.update(p=float(np.mean(Fb > F)))
            row.update(zip(("crit10", "crit5", "crit1"),
                           np.quantile(Fb, [0.90, 0.95, 0.99], method="inverted_cdf").tolist()))
            draws[_TEST_NAMES[k - 1]] = Fb
        rows[k] = row
    if any(0 < b < 100 for b in reps):
        warn.append(f"few bootstrap replications {reps}: p-values and 1% critical values are imprecise")
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table, draws, warn


def _threshold_table(problem: ThresholdProblem, fit: SequentialFit, n_thr: int, level: float):
    """Thresholds with SSR and LR confidence bounds; and the SSR/LR profile of each."""
    grid = problem.grid
    entries = [("Th-1", "1", fit.steps["1"].ssr)]
    if n_thr >= 2:
        entries += [("Th-21", "1r", fit.ssr(2)), ("Th-22", "2", fit.steps["2"].ssr)]
    if n_thr >= 3:
        entries.append(("Th-3", "3", fit.steps["3"].ssr))
    rows, profiles = {}, {}
    for label, key, ssr_model in entries:
        step = fit.steps[key]
        sigma2 = ssr_model / problem.df
        ssr = np.where(np.isfinite(step.profile), step.profile, np.nan)
        lr = (ssr - step.ssr) / sigma2
        lo, hi = lr_confidence_set(grid, lr, level)
        rows[label] = {"threshold": step.gamma(grid), "ssr": step.ssr, "lower": lo, "upper": hi}
        profiles[label] = pd.DataFrame({"gamma": grid, "ssr": ssr, "lr": lr})
    return pd.DataFrame.from_dict(rows, orient="index"), profiles
