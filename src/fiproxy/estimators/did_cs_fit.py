"""Callaway–Sant'Anna estimator as a :class:`Result`: inference, tables, aggregations.

Standard errors come from the influence functions: analytically
(``Σ_c S_c S_c' / n²`` with S_c the influence-function sums within clusters)
or by the multiplier bootstrap with a sup-t uniform band
(:mod:`fiproxy.estimators.did_bootstrap`), as in Callaway & Sant'Anna (2021),
"Difference-in-differences with multiple time periods", Journal of
Econometrics 225(2): 200–230, Section 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st

from fiproxy.estimators.did_aggte import AGGREGATIONS, AttGT, aggregate_attgt, whole
from fiproxy.estimators.did_bootstrap import Multipliers, analytic_vcov, multiplier_bootstrap
from fiproxy.estimators.did_cs import att_gt
from fiproxy.estimators.did_data import DiDInputError, StaggeredPanel
from fiproxy.estimators.result import Result

__all__ = ["callaway_santanna", "aggregate", "Inference"]


@dataclass(frozen=True)
class Inference:
    """How standard errors and bands are computed (shared by ATT(g,t) and all aggregations)."""

    cluster: np.ndarray
    bootstrap: bool
    multipliers: Multipliers
    alpha: float
    cband: bool

    def infer(self, est: np.ndarray, inf: np.ndarray) -> dict:
        """se, vcov and band critical value for estimates with influence functions ``inf`` (n × k).

        A non-finite influence function is an error: it would otherwise turn into
        a zero (analytic) or missing (bootstrap) standard error without notice.
        """
        bad = ~np.isfinite(inf).all(axis=0)
        if bad.any():
            raise FloatingPointError(
                f"non-finite influence function for {int(bad.sum())} of {bad.size} estimates "
                f"(columns {np.flatnonzero(bad).tolist()}): the 2x2 comparisons produced NaN or inf "
                "(extreme propensity scores or weights?); no standard errors are reported")
        z = float(st.norm.ppf(1 - self.alpha / 2))
        V = analytic_vcov(inf, self.cluster)
        zero = np.diag(V) <= 1e-30
        if self.bootstrap:
            b = multiplier_bootstrap(inf, self.multipliers, self.alpha)
            se, V = b["se"], b["vcov"]
            crit = b["crit"] if self.cband and np.isfinite(b["crit"]) else z
        else:
            se = np.where(zero, np.nan, np.sqrt(np.clip(np.diag(V), 0, None)))
            crit = z
        return {"se": se, "vcov": V, "crit": crit, "z": z}

    def table(self, est: np.ndarray, inf: np.ndarray, index) -> tuple[pd.DataFrame, dict]:
        r = self.infer(est, inf)
        se = r["se"]
        tab = pd.DataFrame({
            "estimate": est, "se": se,
            "ci_lower": est - r["z"] * se, "ci_upper": est + r["z"] * se,
            "band_lower": est - r["crit"] * se, "band_upper": est + r["crit"] * se,
        }, index=index)
        return tab, r


def _vcov_frame(V: np.ndarray, names: list) -> pd.DataFrame:
    """The covariance as a labelled frame; a non-finite entry is an error, never a zero."""
    if not np.isfinite(V).all():
        raise FloatingPointError("non-finite entries in the covariance of " + ", ".join(
            str(names[i]) for i in np.flatnonzero(~np.isfinite(V).all(axis=0))))
    return pd.DataFrame(V, index=names, columns=names)


def _pretrend_wald(a: AttGT, cells: list, cluster: np.ndarray, anticipation: int) -> dict:
    """Wald test that all pre-treatment ATT(g,t) are zero (analytic covariance)."""
    pre = np.array([c["time"] < c["group"] - anticipation for c in cells])
    V = analytic_vcov(a.inf[:, pre], cluster) if pre.any() else np.zeros((0, 0))
    ok = np.diag(V) > 1e-30 if pre.any() else np.zeros(0, bool)
    if not ok.any():
        return {}
    b = a.att[pre][ok]
    Vo = V[np.ix_(ok, ok)]
    if np.linalg.cond(Vo) > 1e12:
        return {}
    W = float(b @ np.linalg.solve(Vo, b))
    return {"pretrend_wald": W, "pretrend_df": int(ok.sum()), "pretrend_p": float(st.chi2.sf(W, ok.sum()))}


def _agg_result_parts(a: AttGT, inf_spec: Inference, kind: str, **opts) -> tuple[pd.DataFrame, dict]:
    agg = aggregate_attgt(a, kind, **opts)
    tab, r = inf_spec.table(agg.est, agg.inf, agg.index)
    tab.insert(0, "name", agg.names)
    o = inf_spec.infer(np.array([agg.overall]), agg.overall_inf[:, None])
    overall = {"estimate": agg.overall, "se": float(o["se"][0])}
    return tab, {"vcov": r["vcov"], "crit": r["crit"], "overall": overall, "names": agg.names}


def aggregate(res: Result, kind: str, *, balance_e=None, min_e: float = -np.inf, max_e: float = np.inf) -> Result:
    """Re-aggregate a Callaway–Sant'Anna result without re-estimating the ATT(g,t).

    ``kind`` ∈ {"simple", "group", "calendar", "event", "attgt"}; ``balance_e``,
    ``min_e`` and ``max_e`` as in :func:`fiproxy.did`. Uses the same bootstrap
    multipliers (seed) as the original fit. Returns a new :class:`Result` whose
    ``params`` are the requested aggregation.
    """
    if res.model != "did-cs" or "_attgt" not in res.extra:
        raise ValueError("aggregate() needs a result of fiproxy.did(..., method='cs')")
    a, spec = res.extra["_attgt"], res.extra["_inference"]
    if kind == "attgt":
        tab = res.extra["att_gt"]
        names = list(tab["name"])
        V = res.extra["_attgt_vcov"]
        crit = res.extra["crit_values"]["attgt"]
        est = tab["estimate"].to_numpy()
    else:
        if kind not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {kind!r}; choose one of attgt, {', '.join(AGGREGATIONS)}")
        tab, parts = _agg_result_parts(a, spec, kind, balance_e=balance_e, min_e=min_e, max_e=max_e)
        names, V, crit, est = parts["names"], parts["vcov"], parts["crit"], tab["estimate"].to_numpy()
    newspec = dict(res.spec) | {"aggregate": kind, "balance_e": balance_e, "min_e": min_e, "max_e": max_e}
    extra = dict(res.extra)
    extra["table"] = tab
    extra["crit_value"] = crit
    return Result(params=pd.Series(est, index=names, name="estimate"),
                  vcov=_vcov_frame(V, names),
                  nobs=res.nobs, model=res.model, spec=newspec, df_t=None, vcov_type=res.vcov_type,
                  stats=res.stats, warnings=res.warnings, extra=extra)


def callaway_santanna(p: StaggeredPanel, *, spec: dict, control: str, est_method: str, base_period: str,
                      anticipation: int, aggregate_kind: str, balance_e, min_e: float, max_e: float,
                      bootstrap: bool, biters: int, boot_weights: str, alpha: float, cband: bool,
                      seed, clustered: bool) -> Result:
    """Fit Callaway–Sant'Anna ATT(g,t), all aggregations and their inference."""
    a, cells, p = att_gt(p, control=control, est_method=est_method, base_period=base_period,
                         anticipation=anticipation)
    seed_int = int(np.random.SeedSequence(seed).generate_state(1)[0]) if not isinstance(seed, (int, np.integer)) else int(seed)
    inf_spec = Inference(cluster=p.cluster, bootstrap=bootstrap,
                         multipliers=Multipliers(p.cluster, biters, boot_weights, seed_int), alpha=alpha, cband=cband)
    names = [f"ATT({c['group']:g},{c['time']:g})" for c in cells]
    cell_tab, r = inf_spec.table(a.att, a.inf, pd.RangeIndex(len(cells)))
    meta = pd.DataFrame(cells)
    for col in ("group", "time", "base"):
        meta[col] = whole(meta[col])
    att_tab = pd.concat([meta.assign(name=names), cell_tab], axis=1).set_index("name", drop=False)
    aggs, crits, overall = {}, {"attgt": r["crit"]}, {}
    for kind in AGGREGATIONS:
        tab, parts = _agg_result_parts(a, inf_spec, kind, balance_e=balance_e, min_e=min_e, max_e=max_e)
        aggs[kind] = tab
        crits[kind] = parts["crit"]
        overall[kind] = parts["overall"]
    stats = {
        "att_simple": overall["simple"]["estimate"], "att_simple_se": overall["simple"]["se"],
        "att_group": overall["group"]["estimate"], "att_group_se": overall["group"]["se"],
        "att_calendar": overall["calendar"]["estimate"], "att_calendar_se": overall["calendar"]["se"],
        "att_event": overall["event"]["estimate"], "att_event_se": overall["event"]["se"],
        "n_units": p.n, "n_periods": len(p.times), "n_cohorts": int(p.cohorts.size),
        "n_never_treated": int((~np.isfinite(p.cohort)).sum()),
    } | _pretrend_wald(a, cells, p.cluster, anticipation)
    label = ("multiplier bootstrap" + f" ({biters} {boot_weights} draws" + (", clustered" if clustered else ", by unit") + ")"
             if bootstrap else "influence function" + (" (clustered)" if clustered else " (by unit)"))
    extra = {
        "att_gt": att_tab, "aggregations": aggs, "overall": overall, "crit_values": crits,
        "panel_notes": list(p.notes), "_attgt": a, "_inference": inf_spec, "_attgt_vcov": r["vcov"],
    }
    base = Result(params=pd.Series(a.att, index=names, name="estimate"),
                  vcov=_vcov_frame(r["vcov"], names),
                  nobs=int(p.n * len(p.times)), model="did-cs", spec=spec, df_t=None, vcov_type=label,
                  stats=stats, warnings=tuple(p.notes), extra=extra)
    return aggregate(base, aggregate_kind, balance_e=balance_e, min_e=min_e, max_e=max_e)


def check_event_options(balance_e, min_e, max_e) -> None:
    """Validate the event-window options of the dynamic aggregation."""
    if balance_e is not None and (not isinstance(balance_e, (int, np.integer)) or balance_e < 0):
        raise DiDInputError(f"balance_e must be None or a non-negative integer, got {balance_e!r}")
    if min_e > max_e:
        raise DiDInputError(f"min_e ({min_e}) must not exceed max_e ({max_e})")
