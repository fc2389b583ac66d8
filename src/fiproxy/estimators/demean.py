"""Projection of variables onto the orthogonal complement of fixed effects.

``demean`` removes one or more sets of fixed effects from the columns of a
matrix (the within transformation). One set is an exact group-mean
subtraction; several sets use the method of alternating projections
(Gaure 2013, "OLS with multiple high dimensional category variables",
Computational Statistics & Data Analysis 66: 8–18), iterated to a tolerance.

This is the single code path every fiproxy estimator uses to absorb fixed effects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["demean", "factorize_fe", "DemeanError"]


class DemeanError(RuntimeError):
    """Alternating projections did not converge."""


def factorize_fe(frame: pd.DataFrame | pd.Series | np.ndarray) -> np.ndarray:
    """Integer codes 0..G-1 per fixed-effect column, shape (n, m), dtype int64.

    Raises ``ValueError`` when a fixed-effect column has missing values.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if isinstance(frame, np.ndarray):
        frame = pd.DataFrame(frame.reshape(len(frame), -1))
    codes = np.empty((len(frame), frame.shape[1]), dtype=np.int64)
    for j, col in enumerate(frame.columns):
        c, _ = pd.factorize(frame[col], sort=True)
        if (c < 0).any():
            bad = np.flatnonzero(c < 0)[:5].tolist()
            raise ValueError(f"fixed effect {col!r} has missing values (rows {bad} …)")
        codes[:, j] = c
    return codes


def _group_means(x: np.ndarray, g: np.ndarray, ng: int, w: np.ndarray | None, wsum: np.ndarray) -> np.ndarray:
    """Weighted group means of every column of x; returns (ng, k)."""
    k = x.shape[1]
    out = np.empty((ng, k))
    for j in range(k):
        col = x[:, j] if w is None else x[:, j] * w
        out[:, j] = np.bincount(g, weights=col, minlength=ng)
    return out / wsum[:, None]


def demean(
    x: np.ndarray,
    fe: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    tol: float = 1e-10,
    maxiter: int = 100_000,
) -> tuple[np.ndarray, int]:
    """Remove fixed effects from every column of ``x``.

    Parameters
    ----------
    x : ndarray (n, k)
        Variables to transform (float).
    fe : ndarray (n, m) of int
        Integer codes 0..G_j-1 of each of the m fixed-effect dimensions
        (see :func:`factorize_fe`). ``m = 0`` returns ``x`` unchanged.
    weights : ndarray (n,), optional
        Observation weights (weighted projections, as for WLS).
    tol : float
        Convergence criterion: largest absolute change of any element in one sweep,
        relative to the scale of the column.
    maxiter : int
        Maximum number of sweeps over all fixed-effect dimensions.

    Returns
    -------
    (x_demeaned, iterations)
    """
    x = np.asarray(x, dtype=float)
    squeeze = x.ndim == 1
    if squeeze:
        x = x[:, None]
    fe = np.asarray(fe)
    if fe.ndim == 1:
        fe = fe[:, None]
    m = fe.shape[1]
    if m == 0:
        return (x[:, 0].copy() if squeeze else x.copy()), 0
    w = None if weights is None else np.asarray(weights, dtype=float)
    ngs = [int(fe[:, j].max()) + 1 for j in range(m)]
    wsums = [np.bincount(fe[:, j], weights=w, minlength=ngs[j]) if w is not None
             else np.bincount(fe[:, j], minlength=ngs[j]).astype(float) for j in range(m)]
    out = x.copy()
    if m == 1:
        out -= _group_means(out, fe[:, 0], ngs[0], w, wsums[0])[fe[:, 0]]
        return (out[:, 0] if squeeze else out), 1
    scale = np.maximum(np.abs(x).max(axis=0), 1.0)
    for it in range(1, maxiter + 1):
        prev = out.copy()
        for j in range(m):
            out -= _group_means(out, fe[:, j], ngs[j], w, wsums[j])[fe[:, j]]
        if np.max(np.abs(out - prev).max(axis=0) / scale) < tol:
            return (out[:, 0] if squeeze else out), it
    raise DemeanError(
        f"alternating projections did not converge in {maxiter} sweeps (tol={tol:g}); "
        "the fixed effects may be nearly collinear"
    )
