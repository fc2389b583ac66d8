"""Sun & Abraham interaction-weighted event study.

Sun & Abraham (2021), "Estimating dynamic treatment effects in event studies
with heterogeneous treatment effects", Journal of Econometrics 225(2): 175–199:

1. regress the outcome on cohort × event-time indicators 1{G = g}·1{t − g = e}
   for every treated cohort g and event time e ≠ −1, with unit and period fixed
   effects, using as comparison the never-treated units (``control="nevertreated"``)
   or the last-treated cohort (``"lasttreated"``; periods from its treatment on
   are dropped);
2. average the cohort-specific effects CATT(g, e) over cohorts with weights
   equal to each cohort's share of the observations at event time e.

The covariance of the averages is W V W' with V the unit-clustered covariance
of the cohort-specific effects and the shares W treated as fixed (as R
fixest's ``sunab`` aggregation). ``stats["att"]`` is the observation-weighted
average of all post-treatment CATT(g, e).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fiproxy.estimators.did_data import DiDInputError
from fiproxy.estimators.did_event import REFERENCE, dummy_name, event_frame, fit_fe
from fiproxy.estimators.result import Result

__all__ = ["sun_abraham", "SUNAB_CONTROLS"]

SUNAB_CONTROLS = ("nevertreated", "lasttreated")


def _lincomb(R: np.ndarray, b: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return R @ b, R @ V @ R.T


def sun_abraham(data: pd.DataFrame, y: str, unit: str, time: str, cohort: str | None = None, *,
                treatment: str | None = None, control: str = "nevertreated", covariates=None,
                weights: str | None = None, cluster: str | None = None, anticipation: int = 0,
                aggregate: str = "event", spec: dict | None = None) -> Result:
    """Interaction-weighted event study; ``aggregate="event"`` (IW estimates) or ``"cohort"`` (CATT(g, e))."""
    if control not in SUNAB_CONTROLS:
        raise DiDInputError(f"control must be one of {SUNAB_CONTROLS} for method='sunab', got {control!r}")
    if aggregate not in ("event", "cohort"):
        raise DiDInputError(f"aggregate must be 'event' or 'cohort' for method='sunab', got {aggregate!r}")
    long, covs, notes = event_frame(data, y, unit, time, cohort, treatment, covariates, weights, cluster, anticipation)
    notes = list(notes)
    g = long["_cohort"].to_numpy()
    if control == "nevertreated":
        if np.isfinite(g).all():
            raise DiDInputError(
                "no comparison units: there are no never-treated units; use control='lasttreated'"
            )
    else:
        glast = np.nanmax(np.where(np.isfinite(g), g, np.nan))
        long = long.loc[long[time] < glast - anticipation].copy()
        long.loc[long["_cohort"] == glast, ["_cohort", "_e"]] = [np.inf, np.nan]
        notes.append(f"cohort {glast:g} is the comparison group; periods >= {glast - anticipation:g} dropped")
        if not np.isfinite(long["_cohort"]).any():
            raise DiDInputError("only one treated cohort and no never-treated units: no comparison group exists")
    cells = (long.loc[np.isfinite(long["_cohort"]) & (long["_e"] != REFERENCE)]
             .groupby(["_cohort", "_e"]).size().rename("n_obs").reset_index())
    wcol = long[weights] if weights else pd.Series(1.0, index=long.index)
    cols = []
    for gg, ee in zip(cells["_cohort"], cells["_e"]):
        c = f"_sa_g{int(gg)}_{dummy_name('e', ee)}"
        long[c] = ((long["_cohort"] == gg) & (long["_e"] == ee)).astype(float)
        cols.append(c)
    cells["column"] = cols
    cells["mass"] = [float(wcol[long[c] == 1].sum()) for c in cols]
    fit = fit_fe(long, y, cols, covs, unit, time, weights, cluster)
    cells = cells.loc[cells["column"].isin(fit.params.index)].reset_index(drop=True)
    b = fit.params[cells["column"]].to_numpy()
    V = fit.vcov.loc[cells["column"], cells["column"]].to_numpy()
    cells["estimate"] = b
    cells["se"] = np.sqrt(np.diag(V))
    cells = cells.rename(columns={"_cohort": "cohort", "_e": "e"})
    cells["cohort"] = cells["cohort"].astype(np.int64)
    cells["e"] = cells["e"].astype(np.int64)
    cells["weight"] = cells["mass"] / cells.groupby("e")["mass"].transform("sum")
    es = np.sort(cells["e"].unique())
    R = np.vstack([np.where(cells["e"] == e, cells["weight"], 0.0) for e in es])
    est, Ve = _lincomb(R, b, V)
    post = (cells["e"] >= 0).to_numpy()
    r_att = np.where(post, cells["mass"], 0.0) / cells.loc[post, "mass"].sum()
    att, v_att = _lincomb(r_att[None, :], b, V)
    stats = {"att": float(att[0]), "att_se": float(np.sqrt(v_att[0, 0])), "n_units": int(long[unit].nunique()),
             "n_cohorts": int(cells["cohort"].nunique()), "r2_within": fit.stats.get("r2_within")}
    cell_names = [f"CATT({c},{e})" for c, e in zip(cells["cohort"], cells["e"])]
    if aggregate == "event":
        names = [f"e={e}" for e in es]
        params, vcov = pd.Series(est, index=names), pd.DataFrame(Ve, index=names, columns=names)
    else:
        params, vcov = pd.Series(b, index=cell_names), pd.DataFrame(V, index=cell_names, columns=cell_names)
    spec = dict(spec or {}) | {"control": control, "reference": REFERENCE, "formula": fit.spec["formula"]}
    extra = {"cohort_effects": cells.drop(columns="column").set_index(pd.Index(cell_names)),
             "event_weights": pd.DataFrame(R, index=[f"e={e}" for e in es], columns=cell_names),
             "regression": fit, "reference": REFERENCE}
    return Result(params=params.rename("estimate"), vcov=vcov, nobs=fit.nobs, model="did-sunab", spec=spec,
                  df_t=fit.df_t, vcov_type=fit.vcov_type, stats=stats, warnings=tuple(notes) + fit.warnings,
                  extra=extra)
