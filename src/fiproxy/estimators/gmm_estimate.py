"""One- and two-step linear GMM on stacked panel equations.

With ``X`` (regressors), ``Y`` and ``Z`` (instruments) stacked per group on the
estimation rows (zero outside the sample) and ``E_i`` the matrix that maps a
group's level errors to its estimation rows:

- one step: weight ``A1 = (Σ_i Z_i' H_i Z_i)^{-1}`` with ``H_i = E_i E_i'``, the
  error covariance under i.i.d. level errors (Arellano and Bond 1991; for system
  GMM the block form of Roodman 2009, eq. 26);
- two step: weight ``A2 = (Σ_i Z_i' ê_i ê_i' Z_i)^{-1}`` from one-step residuals
  (Hansen 1982);
- ``b = (X'Z A Z'X)^{-1} X'Z A Z'Y``;
- one-step cluster-robust covariance ``V X'Z A S A Z'X V`` with ``S`` the
  two-step moment covariance;
- two-step covariance with the finite-sample correction of Windmeijer (2005,
  J. Econometrics 126: 25-51), which accounts for the estimated weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

__all__ = ["GMMSteps", "estimate", "sym_inverse", "independent_columns"]


def sym_inverse(m: np.ndarray) -> tuple[np.ndarray, bool]:
    """Inverse of a symmetric positive semi-definite matrix; Moore-Penrose when singular.

    Returns the inverse and whether the matrix was singular. A Cholesky
    factorisation is used when it is well conditioned, an eigen-decomposition
    otherwise.
    """
    m = (m + m.T) / 2
    try:
        c, low = cho_factor(m, lower=True, check_finite=False)
        d = np.abs(np.diag(c))
        if d.min(initial=np.inf) ** 2 > d.max(initial=0.0) ** 2 * 1e-11:
            return cho_solve((c, low), np.eye(m.shape[0]), check_finite=False), False
    except np.linalg.LinAlgError:
        pass
    w, u = np.linalg.eigh(m)
    top = max(float(np.abs(w).max(initial=0.0)), 1e-300)
    keep = w > top * m.shape[0] * 1e-13
    inv = (u[:, keep] / w[keep]) @ u[:, keep].T
    return inv, bool((~keep).any())


def independent_columns(m: np.ndarray, rtol: float = 1e-7) -> np.ndarray:
    """Indices of columns kept when scanning left to right and dropping any column
    that is (numerically) a linear combination of the columns already kept."""
    norms = np.linalg.norm(m, axis=0)
    basis = np.zeros((m.shape[0], m.shape[1]))
    keep: list[int] = []
    for j in range(m.shape[1]):
        if norms[j] == 0:
            continue
        q = basis[:, : len(keep)]
        v = m[:, j] / norms[j]
        for _ in range(2):  # re-orthogonalise once for stability
            v = v - q @ (q.T @ v)
        r = np.linalg.norm(v)
        if r > rtol:
            basis[:, len(keep)] = v / r
            keep.append(j)
    return np.asarray(keep, dtype=int)


@dataclass
class GMMSteps:
    """Everything the tests and covariances need from the two GMM steps."""

    b1: np.ndarray
    b2: np.ndarray
    e1: np.ndarray            # (N, R) one-step residuals, zero outside the sample
    e2: np.ndarray
    vu1: np.ndarray           # (X'Z A1 Z'X)^{-1}
    vu2: np.ndarray           # (X'Z A2 Z'X)^{-1}: two-step covariance before correction
    a1: np.ndarray            # (Σ Z'HZ)^{-1}
    a2: np.ndarray            # (Σ Z'e1 e1'Z)^{-1}
    s2: np.ndarray            # Σ Z'e1 e1'Z
    sig2: float               # variance of the idiosyncratic error from one-step residuals
    v1: np.ndarray            # one-step covariance under i.i.d. errors
    v1_robust: np.ndarray     # one-step cluster-robust covariance
    v2_windmeijer: np.ndarray | None
    zx: np.ndarray
    zy: np.ndarray
    ze1: np.ndarray           # (N, j) per-group Z_i'e1_i
    ze2: np.ndarray
    s1_singular: bool
    s2_singular: bool


def _solve_b(zx: np.ndarray, zy: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xza = zx.T @ a
    vu, _ = sym_inverse(xza @ zx)
    return vu @ (xza @ zy), vu


def estimate(x: np.ndarray, y: np.ndarray, z: np.ndarray, e_map: np.ndarray,
             sig2_rows: np.ndarray, sig2_divisor: float, windmeijer: bool) -> GMMSteps:
    """One- and two-step GMM.

    ``x`` (N, R, k), ``y`` (N, R), ``z`` (N, R, j), ``e_map`` (N, R, T) with
    ``H_i = E_i E_i'``; ``sig2_rows`` (N, R) marks the transformed-equation rows
    whose residuals estimate ``σ²`` (dividing their sum of squares by
    ``sig2_divisor`` times their number: 2 for first differences, 1 for
    orthogonal deviations).
    """
    n, r, j = z.shape
    zf, xf, yf = z.reshape(n * r, j), x.reshape(n * r, -1), y.reshape(n * r)
    zx, zy = zf.T @ xf, zf.T @ yf
    hz = np.einsum("nrt,nst,nsj->nrj", e_map, e_map, z, optimize=True)
    s1 = zf.T @ hz.reshape(n * r, j)
    a1, s1_singular = sym_inverse(s1)
    b1, vu1 = _solve_b(zx, zy, a1)
    e1 = y - x @ b1
    sig2 = float((e1[sig2_rows] ** 2).sum() / sig2_divisor / max(int(sig2_rows.sum()), 1))
    ze1 = np.einsum("nrj,nr->nj", z, e1)
    s2 = ze1.T @ ze1
    a2, s2_singular = sym_inverse(s2)
    p1 = vu1 @ zx.T @ a1
    v1_robust = p1 @ s2 @ p1.T
    b2, vu2 = _solve_b(zx, zy, a2)
    e2 = y - x @ b2
    ze2 = np.einsum("nrj,nr->nj", z, e2)
    v2w = None
    if windmeijer:
        zx_i = np.einsum("nrj,nrk->njk", z, x, optimize=True)
        a = a2 @ ze2.sum(axis=0)
        dmat = (np.einsum("njk,n->jk", zx_i, ze1 @ a)
                + np.einsum("nj,nk->jk", ze1, np.einsum("njk,j->nk", zx_i, a)))
        d = vu2 @ zx.T @ a2 @ dmat
        v2w = vu2 + d @ vu2 + vu2 @ d.T + d @ v1_robust @ d.T
    return GMMSteps(
        b1=b1, b2=b2, e1=e1, e2=e2, vu1=vu1, vu2=vu2, a1=a1, a2=a2, s2=s2, sig2=sig2,
        v1=sig2 * vu1, v1_robust=v1_robust, v2_windmeijer=v2w, zx=zx, zy=zy, ze1=ze1, ze2=ze2,
        s1_singular=s1_singular, s2_singular=s2_singular,
    )
