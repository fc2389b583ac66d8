"""Projection of variables onto the orthogonal complement of fixed effects.

``demean`` removes one or more sets of fixed effects from the columns of a
matrix (the within transformation), exactly as the residual of a (weighted)
least-squares regression on all fixed-effect dummies:

* one set: exact group-mean subtraction;
* several sets with few levels in total (``_DIRECT_LEVELS``): exact
  least-squares projection on the dummies through their normal equations;
* several sets, large problem: alternating projections on the fixed-effect
  coefficients (Gauss-Seidel sweeps, Gaure 2013, "OLS with multiple high
  dimensional category variables", Computational Statistics & Data Analysis
  66: 8-18) accelerated by the Irons-Tuck (1969) extrapolation as in Bergé
  (2018, fixest), compiled with numba and run in parallel over columns.

This is the single code path every fiproxy estimator uses to absorb fixed effects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["demean", "factorize_fe", "fe_leverage", "DemeanError"]

# total fixed-effect levels up to which the exact projection (normal equations) is used
_DIRECT_LEVELS = 400
# n * (sum of levels) up to which the fixed-effect leverage is computed exactly
_DIRECT_LIMIT = 3_000_000


class DemeanError(RuntimeError):
    """Alternating projections did not converge."""


def _codes(values: np.ndarray | pd.Series, name) -> np.ndarray:
    """Sorted integer codes of one column; error on missing values."""
    c, _ = pd.factorize(values, sort=True)
    if (c < 0).any():
        bad = np.flatnonzero(c < 0)[:5].tolist()
        raise ValueError(f"fixed effect {name!r} has missing values (rows {bad} …)")
    return c


def factorize_fe(frame: pd.DataFrame | pd.Series | np.ndarray) -> np.ndarray:
    """Integer codes 0..G-1 per fixed-effect column, shape (n, m), dtype int64.

    Raises ``ValueError`` when a fixed-effect column has missing values.
    """
    if isinstance(frame, pd.Series):
        return _codes(frame.to_numpy(), frame.name).astype(np.int64)[:, None]
    if isinstance(frame, np.ndarray):
        arr = frame.reshape(len(frame), -1)
        codes = np.empty(arr.shape, dtype=np.int64)
        for j in range(arr.shape[1]):
            codes[:, j] = _codes(arr[:, j], j)
        return codes
    codes = np.empty((len(frame), frame.shape[1]), dtype=np.int64)
    for j, col in enumerate(frame.columns):
        codes[:, j] = _codes(frame[col].to_numpy(), col)
    return codes


def _group_means(x: np.ndarray, g: np.ndarray, ng: int, w: np.ndarray | None, wsum: np.ndarray) -> np.ndarray:
    """Weighted group means of every column of x; returns (ng, k)."""
    k = x.shape[1]
    out = np.empty((ng, k))
    for j in range(k):
        col = x[:, j] if w is None else x[:, j] * w
        out[:, j] = np.bincount(g, weights=col, minlength=ng)
    return out / wsum[:, None]


def _direct(x: np.ndarray, fe: np.ndarray, ngs: list[int], w: np.ndarray | None) -> np.ndarray:
    """Exact residual of x on the dummies of all fixed effects.

    Solves the normal equations D'WD a = D'Wx (D'WD assembled from group
    counts, at most ``_DIRECT_LEVELS`` levels in total) by SVD least squares,
    which handles the rank deficiency of several sets of dummies.
    """
    m = fe.shape[1]
    offsets = np.concatenate([[0], np.cumsum(ngs)]).astype(np.int64)
    K = int(offsets[-1])
    DtD = np.zeros((K, K))
    for j in range(m):
        for l in range(j, m):
            key = fe[:, j] * ngs[l] + fe[:, l]
            block = np.bincount(key, weights=w, minlength=ngs[j] * ngs[l]).reshape(ngs[j], ngs[l])
            DtD[offsets[j]:offsets[j + 1], offsets[l]:offsets[l + 1]] = block
            if l != j:
                DtD[offsets[l]:offsets[l + 1], offsets[j]:offsets[j + 1]] = block.T
    xw = x if w is None else x * w[:, None]
    Dtx = np.concatenate([
        np.column_stack([np.bincount(fe[:, j], weights=xw[:, c], minlength=ngs[j]) for c in range(x.shape[1])])
        for j in range(m)])
    coef = np.linalg.lstsq(DtD, Dtx, rcond=None)[0]
    out = x.copy()
    for j in range(m):
        out -= coef[offsets[j]:offsets[j + 1]][fe[:, j]]
    return out


def _iterative(x: np.ndarray, fe: np.ndarray, ngs: list[int], w: np.ndarray | None,
               tol: float, maxiter: int) -> tuple[np.ndarray, int]:
    from fiproxy.estimators._demean_nb import demean_ap

    offsets = np.concatenate([[0], np.cumsum(ngs)]).astype(np.int64)
    ww = np.ones(len(x)) if w is None else w
    wsum = np.concatenate([np.bincount(fe[:, j], weights=ww, minlength=ngs[j]) for j in range(fe.shape[1])])
    out = np.empty_like(x)
    iters = np.zeros(x.shape[1], dtype=np.int64)
    demean_ap(np.ascontiguousarray(x), np.ascontiguousarray(fe), ww, offsets, wsum,
              float(tol), int(maxiter), out, iters)
    if (iters > maxiter).any():
        raise DemeanError(
            f"alternating projections did not converge in {maxiter} sweeps (tol={tol:g}); "
            "the fixed effects may be nearly collinear"
        )
    return out, int(iters.max())


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
    x : ndarray (n, k) or (n,)
        Variables to transform (float).
    fe : ndarray (n, m) of int
        Integer codes 0..G_j-1 of each of the m fixed-effect dimensions
        (see :func:`factorize_fe`). ``m = 0`` returns ``x`` unchanged.
    weights : ndarray (n,), optional
        Observation weights (weighted projections, as for WLS).
    tol : float
        Convergence criterion of the iterative method: largest change of any
        fixed-effect coefficient in one accelerated step, relative to the scale
        of the column (the exact methods ignore it).
    maxiter : int
        Maximum number of sweeps over all fixed-effect dimensions.

    Returns
    -------
    (x_demeaned, iterations)
        ``iterations`` is 0 for the exact methods.
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
    if m == 1:
        wsum = np.bincount(fe[:, 0], weights=w, minlength=ngs[0]).astype(float)
        out = x - _group_means(x, fe[:, 0], ngs[0], w, wsum)[fe[:, 0]]
        it = 0
    elif sum(ngs) <= _DIRECT_LEVELS:
        out, it = _direct(x, fe, ngs, w), 0
    else:
        out, it = _iterative(x, fe.astype(np.int64, copy=False), ngs, w, tol, maxiter)
    return (out[:, 0] if squeeze else out), it


def fe_leverage(fe: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Diagonal of the (weighted) hat matrix of the fixed-effect dummies.

    The leverage of observation i in the full dummy regression is this value
    plus the leverage of its within-transformed regressors (the two spaces are
    orthogonal). One fixed effect: w_i / W_g exactly; several: from the thin SVD
    of the dummy matrix, available up to ``_DIRECT_LIMIT`` (n x levels).
    """
    fe = np.asarray(fe)
    if fe.ndim == 1:
        fe = fe[:, None]
    n, m = fe.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if m == 0:
        return np.zeros(n)
    ngs = [int(fe[:, j].max()) + 1 for j in range(m)]
    if m == 1:
        return w / np.bincount(fe[:, 0], weights=w, minlength=ngs[0])[fe[:, 0]]
    if n * sum(ngs) > _DIRECT_LIMIT:
        raise ValueError(
            f"leverage with {m} fixed effects is computed exactly only up to n x levels = "
            f"{_DIRECT_LIMIT:,} (here {n * sum(ngs):,}); use HC1 or a cluster-robust covariance"
        )
    offsets = np.concatenate([[0], np.cumsum(ngs)])
    D = np.zeros((n, int(offsets[-1])))
    rows = np.arange(n)
    for j in range(m):
        D[rows, offsets[j] + fe[:, j]] = np.sqrt(w)
    U, s, _ = np.linalg.svd(D, full_matrices=False)
    r = int((s > s[0] * max(D.shape) * np.finfo(float).eps).sum())
    return (U[:, :r] ** 2).sum(axis=1)
