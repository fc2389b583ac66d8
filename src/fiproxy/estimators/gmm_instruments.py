"""Instrument matrices for difference and system GMM.

GMM-style instruments (Holtz-Eakin, Newey and Rosen 1988; Arellano and Bond
1991): for the transformed equation at period ``t`` and a variable ``v`` with
lag limits ``(a, b)``, the levels ``v_{t-a}, ..., v_{t-b}``, one column per
period and lag (missing values are set to zero), or one column per lag when
``collapse`` is requested (Roodman 2009, "A note on the theme of too many
instruments"). For the levels equation of system GMM (Arellano and Bover 1995;
Blundell and Bond 1998) the single difference ``Δv_{t-a+1}`` per period (or one
collapsed column); deeper lags of it are redundant given the transformed-
equation instruments.

IV-style instruments: one column per variable, transformed like the regressors
in the transformed equation and in levels in the levels equation.

Each block carries a group name; difference-in-Hansen tests drop one group at
a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fiproxy.estimators.gmm_panel import first_difference

__all__ = ["InstrumentBlock", "gmm_block_transformed", "gmm_block_levels", "iv_block"]


@dataclass(frozen=True)
class InstrumentBlock:
    """Columns of one instrument group for one equation.

    ``values`` is ``(N, T, m)`` on the equation's period grid, zero where the
    instrument is unavailable; ``equation`` is ``"transformed"`` or ``"levels"``.
    """

    group: str
    equation: str
    values: np.ndarray
    labels: tuple[str, ...]


def _zero_nan(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, 0.0)


def gmm_block_transformed(var: str, levels: np.ndarray, lags: tuple[int, int], collapse: bool,
                          periods: np.ndarray, group: str) -> InstrumentBlock:
    """Lags ``a..b`` of ``levels`` as instruments for the transformed equation."""
    n, t = levels.shape
    a, b = lags
    b = min(b, t - 1)
    cols, labels = [], []
    if collapse:
        for k in range(a, b + 1):
            col = np.zeros((n, t))
            col[:, k:] = _zero_nan(levels[:, : t - k])
            cols.append(col)
            labels.append(f"{var} lag {k}")
    else:
        for s in range(t):
            for k in range(a, min(b, s) + 1):
                col = np.zeros((n, t))
                col[:, s] = _zero_nan(levels[:, s - k])
                cols.append(col)
                labels.append(f"{var} lag {k} @{periods[s]}")
    values = np.stack(cols, axis=2) if cols else np.zeros((n, t, 0))
    return InstrumentBlock(group, "transformed", values, tuple(labels))


def gmm_block_levels(var: str, levels: np.ndarray, lags: tuple[int, int], collapse: bool,
                     periods: np.ndarray, group: str) -> InstrumentBlock:
    """``Δv`` dated ``t - max(a - 1, 0)`` as instruments for the levels equation."""
    n, t = levels.shape
    d = max(lags[0] - 1, 0)
    dv = first_difference(levels)
    shifted = np.full((n, t), np.nan)
    shifted[:, d:] = dv[:, : t - d]
    shifted = _zero_nan(shifted)
    name = f"D.{var}" if d == 0 else f"D.{var} lag {d}"
    if collapse:
        return InstrumentBlock(group, "levels", shifted[:, :, None], (name,))
    cols, labels = [], []
    for s in range(t):
        col = np.zeros((n, t))
        col[:, s] = shifted[:, s]
        cols.append(col)
        labels.append(f"{name} @{periods[s]}")
    return InstrumentBlock(group, "levels", np.stack(cols, axis=2), tuple(labels))


def iv_block(names: list[str], values: np.ndarray, equation: str, group: str) -> InstrumentBlock:
    """IV-style columns ``values`` (``N, T, m``), already transformed for the transformed equation."""
    return InstrumentBlock(group, equation, _zero_nan(values), tuple(names))
