"""Callaway–Sant'Anna group-time average treatment effects ATT(g,t) for staggered adoption.

For every treated cohort g and period t, ATT(g,t) is a 2×2 DiD between the
units first treated in g and a comparison group, over the base period b and t
(Callaway & Sant'Anna 2021, "Difference-in-differences with multiple time
periods", Journal of Econometrics 225(2): 200–230, Theorem 1):

- comparison group ``"nevertreated"``: units never treated in the sample;
  ``"notyettreated"``: units not yet treated by max(t, b) + anticipation
  (never-treated included, cohort g excluded);
- base period ``"varying"``: b = g − δ − 1 for post-treatment cells and b = t − 1
  for pre-treatment cells (short differences); ``"universal"``: b = g − δ − 1 for
  every cell (long differences; the base cell itself is reported as 0 with no SE);
- each 2×2 uses an estimator of :mod:`fiproxy.estimators.did_drdid` with
  covariates measured in the earlier of the two periods.

The influence function of each ATT(g,t) is stored per unit, rescaled by
n / n_gt for the units in the comparison, as in the paper's Appendix.
"""

from __future__ import annotations

import numpy as np

from fiproxy.estimators.did_aggte import AttGT
from fiproxy.estimators.did_data import DiDInputError, StaggeredPanel
from fiproxy.estimators.did_drdid import ESTIMATORS, SingularDesign, att_2x2

__all__ = ["att_gt", "CONTROL_GROUPS", "BASE_PERIODS"]

CONTROL_GROUPS = ("nevertreated", "notyettreated")
BASE_PERIODS = ("varying", "universal")


def _last_pre(times: np.ndarray, g: float, anticipation: int) -> int:
    return int(np.flatnonzero(times + anticipation < g)[-1])


def _restrict_without_never_treated(p: StaggeredPanel, anticipation: int) -> tuple[StaggeredPanel, str]:
    """Not-yet-treated design without never-treated units: the last cohort becomes the comparison.

    Periods from the last cohort's treatment (less anticipation) on are dropped,
    because no comparison units remain there.
    """
    glast = p.cohorts.max()
    keep_t = p.times < glast - anticipation
    cohort = np.where(p.cohort == glast, np.inf, p.cohort)
    note = (f"no never-treated units: cohort {glast:g} serves as the comparison group and periods "
            f">= {glast - anticipation:g} are dropped")
    return StaggeredPanel(p.unit_ids, p.times[keep_t], cohort, p.Y[:, keep_t], p.X[:, keep_t], p.covariates,
                          p.weights, p.cluster, p.notes + (note,)), note


def att_gt(p: StaggeredPanel, control: str = "nevertreated", est_method: str = "dr",
           base_period: str = "varying", anticipation: int = 0) -> tuple[AttGT, list, StaggeredPanel]:
    """Estimate all ATT(g,t) of a balanced staggered panel.

    Returns the :class:`AttGT` (estimates and influence functions), a list of
    per-cell records (group, time, base, post, n_treated, n_control) and the
    panel actually used (after the adjustments documented above).
    """
    if control not in CONTROL_GROUPS:
        raise DiDInputError(f"control must be one of {CONTROL_GROUPS}, got {control!r}")
    if base_period not in BASE_PERIODS:
        raise DiDInputError(f"base_period must be one of {BASE_PERIODS}, got {base_period!r}")
    if est_method not in ESTIMATORS:
        raise DiDInputError(f"est_method must be one of {tuple(ESTIMATORS)}, got {est_method!r}")
    if p.cohorts.size == 0:
        raise DiDInputError("no treated units: every unit is never treated (or was dropped as treated in the first period)")
    never = ~np.isfinite(p.cohort)
    if not never.any():
        if control == "nevertreated":
            raise DiDInputError(
                f"no comparison units for cohorts {[f'{g:g}' for g in p.cohorts]}: there are no never-treated units. "
                "Use control='notyettreated' (the last-treated cohort then serves as comparison)."
            )
        p, _ = _restrict_without_never_treated(p, anticipation)
        if p.cohorts.size == 0 or p.times.size < 2:
            raise DiDInputError("no never-treated units and only one treated cohort: no comparison group exists")
    n, T = p.Y.shape
    times, G = p.times, p.cohort
    ones = np.ones((n, 1))
    atts, infs, cells = [], [], []
    for g in p.cohorts:
        pre = _last_pre(times, g, anticipation)
        for j in range(0 if base_period == "universal" else 1, T):
            post = g <= times[j]
            base = pre if (post or base_period == "universal") else j - 1
            rec = {"group": g, "time": times[j], "base": times[base], "post": bool(post)}
            if base == j:
                atts.append(0.0)
                infs.append(np.zeros(n))
                cells.append(rec | {"n_treated": int((G == g).sum()), "n_control": 0})
                continue
            treated = G == g
            if control == "nevertreated":
                comp = never
            else:
                comp = never | ((G > times[max(j, base)] + anticipation) & ~treated)
            if not comp.any():
                raise DiDInputError(
                    f"cohort {g:g} has no comparison units in period {times[j]:g} (base {times[base]:g}) "
                    f"with control={control!r}"
                )
            m = treated | comp
            dy = p.Y[m, j] - p.Y[m, base]
            X = np.hstack([ones[m], p.X[m, min(j, base)]])
            try:
                att, inf_sub = att_2x2(est_method, dy, treated[m], X, p.weights[m])
            except SingularDesign as err:
                raise DiDInputError(f"ATT({g:g},{times[j]:g}): {err}") from None
            inf = np.zeros(n)
            inf[m] = inf_sub * n / m.sum()
            atts.append(att)
            infs.append(inf)
            cells.append(rec | {"n_treated": int(treated.sum()), "n_control": int(comp.sum())})
    a = AttGT(att=np.array(atts), inf=np.column_stack(infs), group=np.array([c["group"] for c in cells]),
              time=np.array([c["time"] for c in cells]), cohort=G, weights=p.weights, times=times)
    return a, cells, p
