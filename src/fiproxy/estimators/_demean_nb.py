"""Compiled kernel of :func:`fiproxy.estimators.demean.demean` for large problems.

Alternating projections on the fixed-effect coefficients (one Gauss-Seidel
sweep updates every fixed-effect dimension in turn; Gaure 2013), accelerated by
Irons & Tuck (1969, "A version of the Aitken accelerator for computer
iteration", International Journal for Numerical Methods in Engineering 1:
275-277) applied to the coefficients of dimensions 2..m, the variant used by
fixest (Bergé 2018). Columns are processed in parallel.

Compiled code is cached on disk when numba finds a writable cache directory
(``__pycache__`` beside this file, ``NUMBA_CACHE_DIR`` or the user cache); in a
read-only installation numba refuses ``cache=True`` while decorating, and the
kernels are then compiled in memory at first use instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def _njit(**options):
    """``numba.njit`` with an on-disk cache when one can be written, else without."""
    def wrap(fn):
        try:
            return njit(cache=True, **options)(fn)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            return njit(**options)(fn)
    return wrap


@_njit()
def _sweep(x, fe, w, offsets, wsum, coef, acc):
    """One Gauss-Seidel sweep: coef of each dimension = weighted group mean of
    x minus the other dimensions' current coefficients (in place)."""
    n, m = fe.shape
    for j in range(m):
        lo, hi = offsets[j], offsets[j + 1]
        for g in range(lo, hi):
            acc[g] = 0.0
        for i in range(n):
            r = x[i]
            for l in range(m):
                if l != j:
                    r -= coef[offsets[l] + fe[i, l]]
            acc[lo + fe[i, j]] += w[i] * r
        for g in range(lo, hi):
            coef[g] = acc[g] / wsum[g]


@_njit()
def _demean_col(x, fe, w, offsets, wsum, tol, maxiter):
    n, m = fe.shape
    K = offsets[m]
    s0 = offsets[1]  # accelerated state: dimensions 2..m
    scale = 1.0
    for i in range(n):
        if abs(x[i]) > scale:
            scale = abs(x[i])
    c0 = np.zeros(K)
    c1 = np.empty(K)
    c2 = np.empty(K)
    acc = np.empty(K)
    it = 0
    converged = False
    while it < maxiter:
        c1[:] = c0
        _sweep(x, fe, w, offsets, wsum, c1, acc)
        c2[:] = c1
        _sweep(x, fe, w, offsets, wsum, c2, acc)
        it += 2
        diff = 0.0
        for g in range(s0, K):
            d = abs(c2[g] - c1[g])
            if d > diff:
                diff = d
        if diff <= tol * scale:
            c0[:] = c2
            converged = True
            break
        num = 0.0
        den = 0.0
        for g in range(s0, K):
            d1 = c2[g] - c1[g]
            d2 = c2[g] - 2.0 * c1[g] + c0[g]
            num += d1 * d2
            den += d2 * d2
        if den > 0.0:
            a = num / den
            for g in range(K):
                c0[g] = c2[g] - a * (c2[g] - c1[g])
        else:
            c0[:] = c2
    # final sweep makes dimension 1 consistent with the extrapolated state
    _sweep(x, fe, w, offsets, wsum, c0, acc)
    out = np.empty(n)
    for i in range(n):
        r = x[i]
        for l in range(m):
            r -= c0[offsets[l] + fe[i, l]]
        out[i] = r
    return out, (it if converged else maxiter + 1)


@_njit(parallel=True)
def demean_ap(x, fe, w, offsets, wsum, tol, maxiter, out, iters):
    """Demean every column of x (n, k) into out; iterations per column into iters
    (maxiter + 1 flags non-convergence)."""
    k = x.shape[1]
    for c in prange(k):
        col, it = _demean_col(np.ascontiguousarray(x[:, c]), fe, w, offsets, wsum, tol, maxiter)
        out[:, c] = col
        iters[c] = it
