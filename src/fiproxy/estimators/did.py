"""Staggered difference-in-differences: ``fiproxy.did``.

Three estimators of the effects of a treatment adopted at different times by
different units (provinces, counties …), all returning a
:class:`~fiproxy.estimators.result.Result`:

- ``method="cs"`` (model ``"did-cs"``): Callaway & Sant'Anna (2021),
  "Difference-in-differences with multiple time periods", Journal of
  Econometrics 225(2): 200–230 — group-time ATT(g,t) with never-treated or
  not-yet-treated comparisons, outcome-regression / IPW / doubly robust
  estimators with covariates, simple / group / calendar / event-time
  aggregations, multiplier-bootstrap standard errors and uniform bands;
- ``method="sunab"`` (model ``"did-sunab"``): Sun & Abraham (2021), "Estimating
  dynamic treatment effects in event studies with heterogeneous treatment
  effects", Journal of Econometrics 225(2): 175–199 — interaction-weighted
  event study;
- ``method="twfe"`` (model ``"did-twfe-es"``): the conventional two-way
  fixed-effects event study with binned end points, for comparison (biased
  under heterogeneous effects: Goodman-Bacon 2021; Sun & Abraham 2021).

Event-time effects are named ``e=-2``, ``e=0`` …; ATT(g,t) ``ATT(2004,2005)``.
"""

from __future__ import annotations

import numpy as np

from fiproxy.estimators.did_cs_fit import aggregate, callaway_santanna, check_event_options
from fiproxy.estimators.did_data import DiDInputError, prepare_panel
from fiproxy.estimators.result import Result

__all__ = ["did", "aggregate", "DiDInputError"]

METHODS = ("cs", "sunab", "twfe")
_CS_AGG = ("attgt", "simple", "group", "calendar", "event")


def did(
    data,
    y: str,
    unit: str,
    time: str,
    cohort: str | None = None,
    *,
    treatment: str | None = None,
    method: str = "cs",
    aggregate: str = "event",
    control: str = "nevertreated",
    est_method: str = "dr",
    covariates=None,
    base_period: str = "varying",
    anticipation: int = 0,
    weights: str | None = None,
    cluster: str | None = None,
    balance_e: int | None = None,
    min_e: float = -np.inf,
    max_e: float = np.inf,
    bootstrap: bool = True,
    biters: int = 999,
    boot_weights: str = "mammen",
    alpha: float = 0.05,
    cband: bool = True,
    seed=None,
    window: tuple[int, int] | None = None,
) -> Result:
    """Staggered difference-in-differences.

    Parameters
    ----------
    data : DataFrame
        Long panel, one row per unit and period.
    y, unit, time : str
        Outcome, unit identifier and (numeric) period columns.
    cohort : str, optional
        First treated period of each unit (0, missing or ∞ = never treated).
    treatment : str, optional
        0/1 treatment indicator by period instead of ``cohort``; treatment must
        be absorbing (an error names units whose treatment switches off).
    method : {"cs", "sunab", "twfe"}
        Callaway–Sant'Anna, Sun–Abraham or TWFE event study.
    aggregate : str
        CS: which estimates become ``params``: ``"attgt"``, ``"simple"``,
        ``"group"``, ``"calendar"`` or ``"event"`` (default). All aggregations
        are in ``res.extra["aggregations"]`` either way; :func:`aggregate`
        re-aggregates without re-estimating. Sun–Abraham: ``"event"`` or ``"cohort"``.
    control : str
        CS: ``"nevertreated"`` or ``"notyettreated"``. Sun–Abraham:
        ``"nevertreated"`` or ``"lasttreated"``.
    est_method : {"dr", "reg", "ipw", "dr-imp"}
        CS 2×2 estimator: doubly robust (Sant'Anna & Zhao 2020, the default of
        R ``did``), outcome regression, normalized IPW, or the improved
        (inverse-probability-tilting) doubly robust estimator.
    covariates : list of str or "~ x1 + x2", optional
        CS covariates for conditional parallel trends (earlier period of each 2×2);
        Sun–Abraham / TWFE: time-varying controls added to the regression.
    base_period : {"varying", "universal"}
        CS base period for pre-treatment cells.
    anticipation : int
        Number of periods before treatment in which units may already react.
    weights : str, optional
        Time-invariant unit sampling weights.
    cluster : str, optional
        Cluster variable constant within units (default: the unit).
    balance_e, min_e, max_e
        Event-window options of the CS event aggregation (as R ``did::aggte``).
    bootstrap, biters, boot_weights, alpha, cband, seed
        CS multiplier bootstrap: on/off, draws, multiplier law (``"mammen"``,
        ``"rademacher"``, ``"webb"``, ``"normal"``), level, uniform band, seed.
        Without the bootstrap, standard errors are analytic and bands pointwise.
    window : (lo, hi), optional
        TWFE event study: event times below ``lo`` / above ``hi`` are binned
        into the end points (default: the full range, no binning).
    """
    if method not in METHODS:
        raise DiDInputError(f"method must be one of {METHODS}, got {method!r}")
    if not 0 < alpha < 1:
        raise DiDInputError(f"alpha must be in (0, 1), got {alpha!r}")
    spec = {
        "method": method, "outcome": y, "unit": unit, "time": time, "cohort": cohort, "treatment": treatment,
        "aggregate": aggregate, "control": control, "covariates": covariates, "anticipation": anticipation,
        "weights": weights, "cluster": cluster,
    }
    if method == "cs":
        if aggregate not in _CS_AGG:
            raise DiDInputError(f"aggregate must be one of {_CS_AGG} for method='cs', got {aggregate!r}")
        if not isinstance(biters, (int, np.integer)) or biters < 1:
            raise DiDInputError(f"biters must be a positive integer, got {biters!r}")
        check_event_options(balance_e, min_e, max_e)
        p = prepare_panel(data, y, unit, time, cohort=cohort, treatment=treatment, covariates=covariates,
                          weights=weights, cluster=cluster, anticipation=anticipation)
        spec |= {"est_method": est_method, "base_period": base_period, "bootstrap": bootstrap, "biters": biters,
                 "boot_weights": boot_weights, "alpha": alpha, "cband": cband, "seed": seed}
        return callaway_santanna(
            p, spec=spec, control=control, est_method=est_method, base_period=base_period,
            anticipation=anticipation, aggregate_kind=aggregate, balance_e=balance_e, min_e=min_e, max_e=max_e,
            bootstrap=bootstrap, biters=int(biters), boot_weights=boot_weights, alpha=alpha, cband=cband,
            seed=seed, clustered=cluster is not None,
        )
    if method == "sunab":
        from fiproxy.estimators.did_sunab import sun_abraham

        return sun_abraham(data, y, unit, time, cohort, treatment=treatment,
                           control=control,
                           covariates=covariates, weights=weights, cluster=cluster, anticipation=anticipation,
                           aggregate=aggregate, spec=spec)
    from fiproxy.estimators.did_event import twfe_event_study

    if aggregate != "event":
        raise DiDInputError(f"method='twfe' estimates an event study; aggregate must be 'event', got {aggregate!r}")
    return twfe_event_study(data, y, unit, time, cohort, treatment=treatment, covariates=covariates,
                            weights=weights, cluster=cluster, anticipation=anticipation, window=window, spec=spec)
