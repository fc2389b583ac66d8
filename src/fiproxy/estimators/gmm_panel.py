"""Panel layout on a calendar grid and the transformations that remove fixed effects.

Every series is held as an ``(N, T)`` array: one row per group, one column per
period of the common time grid, ``NaN`` where the group has no observation.
Lags are shifts along the grid, so a lag across a gap is missing.

Two transformations remove the individual effect (Roodman 2009, section 3.1):

- first differences, ``x*_t = x_t - x_{t-1}`` (Arellano and Bond 1991);
- forward orthogonal deviations, ``x*_t = c_t (x_t - mean of later x)`` with
  ``c_t = sqrt(n_t / (n_t + 1))`` and ``n_t`` the number of later observations
  (Arellano and Bover 1995), which keeps observations next to a gap.

Both are expressed by a matrix per group mapping the ``T`` level errors to the
transformed rows. The forward deviation of period ``t`` is stored in column
``t + 1`` so that, as in first differences, lag ``l`` of a row is a valid
instrument exactly when ``l`` is at least 1 (predetermined) or 2 (endogenous).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import reduce

import numpy as np
import pandas as pd

__all__ = ["PanelGrid", "build_grid", "lag", "first_difference", "transform", "transform_matrix"]


@dataclass(frozen=True)
class PanelGrid:
    """Position of every data row on the ``(group, period)`` grid."""

    ids: np.ndarray
    periods: np.ndarray
    row_group: np.ndarray
    row_period: np.ndarray
    id_col: str
    time_col: str

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ids), len(self.periods)

    def values(self, column: pd.Series) -> np.ndarray:
        """``(N, T)`` array of a data column, ``NaN`` where missing."""
        out = np.full(self.shape, np.nan)
        out[self.row_group, self.row_period] = pd.to_numeric(column, errors="raise").to_numpy(dtype=float)
        return out

    @property
    def observed(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=bool)
        out[self.row_group, self.row_period] = True
        return out

    def gaps(self) -> dict:
        """Interior periods missing between a group's first and last observation."""
        obs = self.observed
        first = obs.argmax(axis=1)
        last = obs.shape[1] - 1 - obs[:, ::-1].argmax(axis=1)
        t = np.arange(obs.shape[1])
        inside = (t >= first[:, None]) & (t <= last[:, None]) & ~obs
        groups = np.flatnonzero(inside.any(axis=1))
        examples = [(self.ids[g], self.periods[np.flatnonzero(inside[g])[0]]) for g in groups[:3]]
        return {"n_groups": int(groups.size), "n_missing": int(inside.sum()), "examples": examples}


def build_grid(data: pd.DataFrame, id_col: str, time_col: str) -> PanelGrid:
    """Map data rows to the grid; the time step is the largest common step of the periods."""
    if data[id_col].isna().any():
        raise ValueError(f"panel id column {id_col!r} has missing values")
    t = data[time_col]
    if t.isna().any():
        raise ValueError(f"time column {time_col!r} has missing values")
    tv = pd.to_numeric(t, errors="coerce")
    if tv.isna().any() or not np.all(np.isclose(tv, np.round(tv))):
        raise ValueError(f"time column {time_col!r} must hold integer periods (e.g. years), got {t.dtype}")
    tv = np.round(tv.to_numpy(dtype=float)).astype(np.int64)
    dup = pd.DataFrame({"i": data[id_col].to_numpy(), "t": tv}).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(
            f"duplicate ({id_col}, {time_col}) pair {data[id_col].iloc[row]!r}, {tv[row]}: "
            "each group may have one observation per period"
        )
    uniq = np.unique(tv)
    step = reduce(math.gcd, (int(d) for d in np.diff(uniq)), 0) or 1
    periods = np.arange(uniq[0], uniq[-1] + step, step)
    codes, ids = pd.factorize(data[id_col], sort=True)
    return PanelGrid(
        ids=np.asarray(ids), periods=periods, row_group=codes,
        row_period=((tv - uniq[0]) // step).astype(np.intp), id_col=id_col, time_col=time_col,
    )


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """Shift along the time axis (axis 1) by ``k`` periods, ``NaN``-filled."""
    if k == 0:
        return x
    out = np.full_like(x, np.nan, dtype=float)
    if k > 0:
        out[:, k:] = x[:, :-k]
    else:
        out[:, :k] = x[:, -k:]
    return out


def first_difference(x: np.ndarray) -> np.ndarray:
    """``x_t - x_{t-1}`` on the grid (``NaN`` when either is missing); works on ``(N, T, ...)``."""
    out = np.full_like(x, np.nan, dtype=float)
    out[:, 1:] = x[:, 1:] - x[:, :-1]
    return out


def transform_matrix(kind: str, complete: np.ndarray) -> np.ndarray:
    """Per-group matrices ``M_i`` (``N, T, T``) with transformed rows ``= M_i @ levels``.

    Only periods flagged ``complete`` enter; rows without a transformed value are zero.
    """
    n, t = complete.shape
    m = np.zeros((n, t, t))
    c = complete.astype(float)
    if kind == "fd":
        both = c[:, 1:] * c[:, :-1]
        idx = np.arange(1, t)
        m[:, idx, idx] = both
        m[:, idx, idx - 1] = -both
        return m
    if kind != "fod":
        raise ValueError(f"transform must be 'fd' or 'fod', got {kind!r}")
    later = np.cumsum(c[:, ::-1], axis=1)[:, ::-1] - c  # complete periods after t
    for s in range(t - 1):
        nf = later[:, s]
        ok = (c[:, s] > 0) & (nf > 0)
        scale = np.where(ok, np.sqrt(nf / np.where(ok, nf + 1, 1)), 0.0)
        m[:, s + 1, s] = scale
        m[:, s + 1, s + 1:] = -(scale / np.where(ok, nf, 1))[:, None] * c[:, s + 1:]
    return m


def transform(x: np.ndarray, m: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Apply ``M_i`` to ``(N, T)`` or ``(N, T, k)`` levels; ``NaN`` outside ``rows``."""
    x0 = np.nan_to_num(x, nan=0.0)
    out = np.einsum("nts,ns...->nt...", m, x0)
    mask = rows if out.ndim == 2 else rows[..., None]
    return np.where(mask, out, np.nan)
