"""Aggregations of group-time average treatment effects ATT(g,t) and their influence functions.

Callaway & Sant'Anna (2021), "Difference-in-differences with multiple time
periods", Journal of Econometrics 225(2): 200–230, Section 3.1 and
Appendix B (the ``aggte`` definitions of their ``did`` package):

- ``simple``: average of all post-treatment ATT(g,t) (t ≥ g) weighted by cohort size;
- ``group``: per cohort, the average of its post-treatment ATT(g,t); overall =
  cohort-size-weighted average of those;
- ``calendar``: per period t, the cohort-size-weighted average of ATT(g,t)
  over cohorts already treated (g ≤ t); overall = their simple average;
- ``event`` (dynamic): per event time e = t − g, the cohort-size-weighted
  average of ATT(g, g+e); overall = the average over e ≥ 0. ``balance_e``
  keeps only cohorts observed for at least ``balance_e`` periods after
  treatment (a balanced event window); ``min_e``/``max_e`` cut the window.

Cohort-size weights are estimated (shares P(G = g)); their estimation error
enters the influence function of every weighted average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["AttGT", "Aggregation", "aggregate_attgt", "AGGREGATIONS", "whole"]

AGGREGATIONS = ("simple", "group", "calendar", "event")


@dataclass(frozen=True)
class AttGT:
    """Estimated ATT(g,t) with their influence functions.

    ``att``, ``group``, ``time`` have one entry per cell (k); ``inf`` is (n × k);
    ``cohort`` and ``weights`` have one entry per unit (n).
    """

    att: np.ndarray
    inf: np.ndarray
    group: np.ndarray
    time: np.ndarray
    cohort: np.ndarray
    weights: np.ndarray
    times: np.ndarray


@dataclass(frozen=True)
class Aggregation:
    """Estimates of one aggregation, their influence functions and the overall summary."""

    kind: str
    index: pd.Index
    names: list
    est: np.ndarray
    inf: np.ndarray
    overall: float
    overall_inf: np.ndarray


def _fmt(v: float) -> str:
    return f"{v:g}"


def whole(values) -> np.ndarray:
    """Values as integers when they are all whole numbers (periods, event times), else unchanged."""
    v = np.asarray(values, dtype=float)
    return v.astype(np.int64) if v.size and np.all(np.isfinite(v)) and np.all(v == np.round(v)) else v


def _shares(a: AttGT) -> np.ndarray:
    """Estimated cohort share P(G = g) of each cell's cohort."""
    glist = np.unique(a.group)
    pg = {g: np.mean(a.weights * (a.cohort == g)) for g in glist}
    return np.array([pg[g] for g in a.group])


def _weights_if(keep: np.ndarray, pg: np.ndarray, a: AttGT, group: np.ndarray) -> np.ndarray:
    """Influence function of the estimated weights pg_k / Σ pg (n × |keep|)."""
    s = pg[keep].sum()
    dev = a.weights[:, None] * (a.cohort[:, None] == group[keep][None, :]) - pg[keep][None, :]
    return dev / s - dev.sum(axis=1, keepdims=True) * (pg[keep] / s**2)[None, :]


def _weighted(att: np.ndarray, inf: np.ndarray, keep: np.ndarray, pg: np.ndarray,
              a: AttGT, group: np.ndarray) -> tuple[float, np.ndarray]:
    """Share-weighted average of ``att[keep]`` and its influence function (weights' error included)."""
    w = pg[keep] / pg[keep].sum()
    est = float(att[keep] @ w)
    return est, inf[:, keep] @ w + _weights_if(keep, pg, a, group) @ att[keep]


def _stack(kind, labels, prefix, ests, infs, overall, overall_inf) -> Aggregation:
    return Aggregation(kind=kind, index=pd.Index(whole(labels), name=kind), names=[f"{prefix}={_fmt(v)}" for v in labels],
                       est=np.asarray(ests, float), inf=np.column_stack(infs), overall=float(overall),
                       overall_inf=overall_inf)


def _simple(a: AttGT, pg: np.ndarray, max_e: float) -> Aggregation:
    keep = np.flatnonzero((a.group <= a.time) & (a.time <= a.group + max_e))
    est, inf = _weighted(a.att, a.inf, keep, pg, a, a.group)
    return Aggregation("simple", pd.Index(["ATT"]), ["ATT"], np.array([est]), inf[:, None], est, inf)


def _group(a: AttGT, max_e: float) -> Aggregation:
    glist = np.unique(a.group)
    ests, infs = [], []
    for g in glist:
        keep = np.flatnonzero((a.group == g) & (a.time >= g) & (a.time <= g + max_e))
        ests.append(a.att[keep].mean())
        infs.append(a.inf[:, keep].mean(axis=1))
    ests = np.array(ests)
    inf_g = np.column_stack(infs)
    pgg = np.array([np.mean(a.weights * (a.cohort == g)) for g in glist])
    allg = np.arange(len(glist))
    overall, oinf = _weighted(ests, inf_g, allg, pgg, a, glist)
    return _stack("group", glist, "g", ests, infs, overall, oinf)


def _calendar(a: AttGT, pg: np.ndarray) -> Aggregation:
    tl = a.times[a.times >= a.group.min()]
    ests, infs = [], []
    for t in tl:
        keep = np.flatnonzero((a.time == t) & (a.group <= a.time))
        e, i = _weighted(a.att, a.inf, keep, pg, a, a.group)
        ests.append(e)
        infs.append(i)
    return _stack("calendar", tl, "t", ests, infs, np.mean(ests), np.column_stack(infs).mean(axis=1))


def _event(a: AttGT, pg: np.ndarray, balance_e, min_e: float, max_e: float) -> Aggregation:
    e_all = a.time - a.group
    include = np.ones(len(e_all), dtype=bool)
    eseq = np.unique(e_all)
    if balance_e is not None:
        include = (a.times.max() - a.group) >= balance_e
        eseq = np.unique(e_all[include])
        eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - a.times.max() + a.times.min())]
    eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
    if eseq.size == 0:
        raise ValueError("no event times left after applying balance_e / min_e / max_e")
    ests, infs = [], []
    for e in eseq:
        keep = np.flatnonzero((e_all == e) & include)
        est, inf = _weighted(a.att, a.inf, keep, pg, a, a.group)
        ests.append(est)
        infs.append(inf)
    post = eseq >= 0
    if post.any():
        overall = float(np.mean(np.asarray(ests)[post]))
        oinf = np.column_stack(infs)[:, post].mean(axis=1)
    else:
        overall, oinf = float("nan"), np.zeros(a.inf.shape[0])
    return _stack("event", eseq, "e", ests, infs, overall, oinf)


def aggregate_attgt(a: AttGT, kind: str, balance_e=None, min_e: float = -np.inf, max_e: float = np.inf) -> Aggregation:
    """Aggregate ATT(g,t) into ``kind`` ∈ {"simple", "group", "calendar", "event"}."""
    if kind not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {kind!r}; choose one of {', '.join(AGGREGATIONS)}")
    pg = _shares(a)
    if kind == "simple":
        return _simple(a, pg, max_e)
    if kind == "group":
        return _group(a, max_e)
    if kind == "calendar":
        return _calendar(a, pg)
    return _event(a, pg, balance_e, min_e, max_e)
