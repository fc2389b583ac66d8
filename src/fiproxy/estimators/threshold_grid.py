"""Candidate thresholds, trimming and the likelihood-ratio confidence set.

Grid conventions (Hansen 1999, Section 5; Wang 2015, Stata Journal 15(1): 121-134):

- ``grid="all"``: every distinct value g of the threshold variable that leaves
  at least ``ceil(trim * N)`` observations on each side (q <= g and q > g).
- ``grid=<int qn>``: Hansen's quantile grid over the *distinct* sorted values
  d_1 < ... < d_D: the values d_floor(s D) for s = trim, trim + 1/qn, ...,
  1 - trim (1-based index, as in Hansen's own code). ``qn=400`` with
  ``trim=0.01`` gives the 393 points used in Hansen (1999).

Trimming of later thresholds: a candidate g for threshold k (k >= 2) is
admissible when at least ``ceil(trim_k * N)`` observations lie between g and
every threshold already in the model (Hansen's code measures the same
distance in grid positions, qn * trim_k; counting observations keeps the rule
meaningful for the exhaustive grid and for unbalanced panels).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["candidate_grid", "min_regime_size", "admissible", "lr_critical_value", "lr_confidence_set"]


def min_regime_size(trim: float, nobs: int) -> int:
    """Smallest number of observations a regime may hold: ceil(trim * N), at least 1."""
    return max(1, math.ceil(trim * nobs - 1e-9))


def candidate_grid(q: np.ndarray, trim: float, grid: str | int) -> np.ndarray:
    """Sorted candidate thresholds for the first threshold (see module docstring)."""
    qs = np.sort(q)
    distinct = np.unique(qs)
    n = len(qs)
    if isinstance(grid, str):
        if grid != "all":
            raise ValueError(f"grid must be 'all' or a number of quantile points (int), got {grid!r}")
        below = np.searchsorted(qs, distinct, side="right")
        m = min_regime_size(trim, n)
        return distinct[(below >= m) & (n - below >= m)]
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
        raise ValueError(f"grid must be 'all' or an integer number of quantile points >= 2, got {grid!r}")
    qn = int(grid)
    steps = int(math.floor(qn * (1 - 2 * trim) + 1e-9))
    s = trim + np.arange(steps + 1) / qn
    idx = np.clip(np.floor(s * len(distinct) + 1e-9).astype(int) - 1, 0, len(distinct) - 1)
    return np.unique(distinct[idx])


def admissible(counts: np.ndarray, fixed_counts: list[int] | np.ndarray, m: int) -> np.ndarray:
    """Grid points at least ``m`` observations away from every fixed threshold.

    ``counts`` and ``fixed_counts`` are numbers of observations with q <= g.
    """
    ok = np.ones(len(counts), dtype=bool)
    for f in fixed_counts:
        ok &= np.abs(counts - int(f)) >= m
    return ok


def lr_critical_value(level: float) -> float:
    """Hansen's (1999, eq. 16) critical value c(alpha) = -2 ln(1 - sqrt(level)).

    ``level`` is the confidence level 1 - alpha (0.95 gives 7.35).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(-2.0 * np.log(1.0 - np.sqrt(level)))


def lr_confidence_set(grid: np.ndarray, lr: np.ndarray, level: float) -> tuple[float, float]:
    """Smallest and largest grid point with LR(g) <= c(alpha) (NaN entries are ignored)."""
    inside = np.isfinite(lr) & (lr <= lr_critical_value(level))
    if not inside.any():
        return float("nan"), float("nan")
    return float(grid[inside].min()), float(grid[inside].max())
