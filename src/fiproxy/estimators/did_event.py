"""Regression event studies for staggered adoption: the common long frame and the TWFE event study.

The two-way fixed-effects event study regresses the outcome on indicators of
event time e = t − g (periods relative to first treatment), omitting e = −1,
with unit and period fixed effects; event times outside a window are binned
into its end points. Under heterogeneous effects across cohorts its
coefficients mix effects of other periods (Sun & Abraham 2021, "Estimating
dynamic treatment effects in event studies with heterogeneous treatment
effects", Journal of Econometrics 225(2): 175–199, Proposition 1;
Goodman-Bacon 2021, Journal of Econometrics 225(2): 254–277); it is provided
for comparison with the Callaway–Sant'Anna and Sun–Abraham estimators.

The regressions are fitted by :func:`fiproxy.estimators.twfe.twfe`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fiproxy.estimators.did_data import DiDInputError, parse_covariates, prepare_panel
from fiproxy.estimators.result import Result

__all__ = ["event_frame", "twfe_event_study", "dummy_name", "fit_fe"]

REFERENCE = -1


def dummy_name(prefix: str, e: float) -> str:
    """Formula-safe column name for event time ``e`` (``m`` marks negative values)."""
    return f"{prefix}{'m' if e < 0 else ''}{abs(int(e))}"


def event_frame(data: pd.DataFrame, y: str, unit: str, time: str, cohort: str | None, treatment: str | None,
                covariates, weights: str | None, cluster: str | None, anticipation: int) -> tuple[pd.DataFrame, list, tuple]:
    """Long estimation frame with columns ``_cohort`` (∞ = never treated) and ``_e`` (event time, NaN if never).

    Validates the input like the Callaway–Sant'Anna estimator (columns,
    duplicates, absorbing treatment, cohorts constant within units) but does
    not need a balanced panel. Units treated in the first period are dropped.
    """
    p = prepare_panel(data, y, unit, time, cohort=cohort, treatment=treatment, covariates=covariates,
                      weights=weights, cluster=cluster, anticipation=anticipation, require_balanced=False)
    if not np.all(p.times == np.round(p.times)):
        raise DiDInputError(f"event studies need integer periods in {time!r}")
    covs = parse_covariates(covariates)
    cols = list(dict.fromkeys([y, unit, time] + covs + [c for c in (weights, cluster) if c]))
    long = data.loc[data[unit].isin(p.unit_ids), cols].copy()
    gmap = pd.Series(p.cohort, index=p.unit_ids)
    long["_cohort"] = long[unit].map(gmap).to_numpy(dtype=float)
    long["_e"] = np.where(np.isfinite(long["_cohort"]), long[time] - long["_cohort"], np.nan)
    if not np.isfinite(long["_cohort"]).any():
        raise DiDInputError("no treated units: every unit is never treated (or was dropped as treated in the first period)")
    return long.reset_index(drop=True), covs, p.notes


def fit_fe(long: pd.DataFrame, y: str, regressors: list, covs: list, unit: str, time: str,
           weights: str | None, cluster: str | None) -> Result:
    """Regression with unit and period fixed effects, clustered by ``cluster`` (default: unit)."""
    from fiproxy.estimators.twfe import twfe

    rhs = " + ".join(regressors + covs)
    return twfe(f"{y} ~ {rhs} | {unit} + {time}", long, vcov={"CRV1": cluster or unit}, weights=weights,
                panel_id=(unit, time))


def twfe_event_study(data: pd.DataFrame, y: str, unit: str, time: str, cohort: str | None = None, *,
                     treatment: str | None = None, covariates=None, weights: str | None = None,
                     cluster: str | None = None, anticipation: int = 0, window: tuple | None = None,
                     spec: dict | None = None) -> Result:
    """TWFE event study with reference period e = −1 and binned end points.

    ``window=(lo, hi)``: event times below ``lo`` are pooled into ``e=lo`` and
    above ``hi`` into ``e=hi`` (default: observed range, no binning). Never-treated
    units have all indicators zero.
    """
    long, covs, notes = event_frame(data, y, unit, time, cohort, treatment, covariates, weights, cluster, anticipation)
    e = long["_e"].to_numpy()
    emin, emax = int(np.nanmin(e)), int(np.nanmax(e))
    lo, hi = (emin, emax) if window is None else (int(window[0]), int(window[1]))
    if not lo <= REFERENCE < hi:
        raise DiDInputError(f"window {window!r} must contain the reference period -1 and at least one later period")
    eb = np.clip(e, lo, hi)
    cols, names = [], []
    for k in range(lo, hi + 1):
        if k == REFERENCE:
            continue
        c = dummy_name("_es_e", k)
        long[c] = (eb == k).astype(float)
        if long[c].sum() > 0:
            cols.append(c)
            names.append(f"e={k}")
    fit = fit_fe(long, y, cols, covs, unit, time, weights, cluster)
    rename = dict(zip(cols, names))
    missing = [rename[c] for c in cols if c not in fit.params.index]
    idx = [c for c in cols if c in fit.params.index]
    out_names = [rename[c] for c in idx]
    params = fit.params[idx].set_axis(out_names)
    V = fit.vcov.loc[idx, idx].set_axis(out_names, axis=0).set_axis(out_names, axis=1)
    warn = tuple(notes) + fit.warnings + ((f"event-time indicators dropped as collinear: {missing}",) if missing else ())
    spec = dict(spec or {}) | {"window": (lo, hi), "binned": (lo > emin, hi < emax), "reference": REFERENCE,
                               "formula": fit.spec["formula"]}
    return Result(params=params.rename("estimate"), vcov=V, nobs=fit.nobs, model="did-twfe-es", spec=spec,
                  df_t=fit.df_t, vcov_type=fit.vcov_type, stats={"r2_within": fit.stats.get("r2_within")},
                  warnings=warn, extra={"regression": fit, "reference": REFERENCE})
