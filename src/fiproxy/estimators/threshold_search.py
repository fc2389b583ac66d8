"""Exact sum-of-squared-residuals profile of the fixed-effects panel threshold model.

The model of Hansen (1999, "Threshold effects in non-dynamic panels: Estimation,
testing, and inference", Journal of Econometrics 93: 345-368) is

    y_it = mu_i + x_it'b + z_it'd_1 1(q_it <= g_1) + ... + z_it'd_{m+1} 1(q_it > g_m) + e_it.

Written with the nested indicators w_it(g) = z_it 1(q_it <= g), the regressors
of the m-threshold model span the same space as [x, z, w(g_1), ..., w(g_m)],
so the SSR of adding one threshold g to a model with fixed thresholds F is a
partial regression (Frisch-Waugh-Lovell) of the within-transformed y on the
within-transformed w(g) after projecting out B = [x, z, w(f), f in F]:

    SSR(g) = e'e - r(g)' A(g)^{-1} r(g),
    r(g)   = w~(g)' e,   A(g) = w~(g)' M_B w~(g) = D(g) - C(g)'C(g),   C(g) = Q' w~(g),

with Q an orthonormal basis of the transformed B. For the within
transformation (every row kept), with S_i(g) = sum_{t: q_it <= g} z_it,

    r(g) = sum_{q_it <= g} z_it e_it                      (e has unit sums 0)
    D(g) = sum_{q_it <= g} z_it z_it' - sum_i S_i(g) S_i(g)' / T_i.

Hansen's own stacking deletes one period per unit after demeaning; then, with
K_i(g) the sum over the kept rows and n_i the number of kept rows,

    D(g) = sum_{kept, q_it <= g} z z' - sum_i (K_i S_i' + S_i K_i') / T_i + sum_i n_i S_i S_i' / T_i^2,

and r, C use v_it - (sum_t v_it) / T_i in place of v_it. Every term is a
running sum over the observations sorted by q, updated exactly when one
observation changes regime, so the whole profile costs O(n k) instead of one
within regression per grid point; this holds for unbalanced panels too
(T_i varies by unit). The within transformation itself is
:func:`fiproxy.estimators.demean.demean`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["SortedDesign", "ProfileBase", "ssr_profile", "ssr_profiles_many", "orthonormal_basis"]

# relative size below which a partial design matrix A(g) counts as singular
_SINGULAR_RTOL = 1e-10


@dataclass(frozen=True)
class SortedDesign:
    """Quantities of the threshold search that depend only on the design (not on y).

    Transformed variables live on all n rows; rows dropped by the transformation
    (``kept`` false: Hansen's deletion of one period per unit) hold zeros.

    Attributes
    ----------
    order : (n,) int — observation order by q (stable sort).
    counts : (G,) int — number of observations with q <= g for each grid point g.
    z_sorted : (n, kz) — regime-dependent regressors in q order (not demeaned).
    D : (G, kz, kz) — w~(g)'w~(g) at each grid point.
    unit, kept, inv_t : unit codes, kept-row flags and 1/T_i per observation (original order).
    U : sparse (n_units, n) unit indicator matrix (unit sums of a column block).
    """

    order: np.ndarray
    counts: np.ndarray
    z_sorted: np.ndarray
    D: np.ndarray
    unit: np.ndarray
    kept: np.ndarray
    inv_t: np.ndarray
    U: sparse.csr_matrix

    @classmethod
    def build(cls, z: np.ndarray, q: np.ndarray, unit: np.ndarray, grid: np.ndarray,
              kept: np.ndarray | None = None) -> "SortedDesign":
        """Precompute the sorted design for regressors ``z`` (n, kz), threshold ``q``, unit codes.

        ``kept`` flags the rows that remain after the transformation (all rows
        for the within transformation).
        """
        n, kz = z.shape
        kept = np.ones(n, dtype=bool) if kept is None else np.asarray(kept, dtype=bool)
        order = np.argsort(q, kind="stable")
        counts = np.searchsorted(q[order], grid, side="right")
        zs, us, ks = z[order], unit[order], kept[order].astype(float)
        t_i = np.bincount(unit).astype(float)
        n_i = np.bincount(unit, weights=kept.astype(float))
        S_prev = _exclusive_unit_cumsum(zs, us)
        K_prev = _exclusive_unit_cumsum(zs * ks[:, None], us)
        it = 1.0 / t_i[us]
        ratio = (n_i[us] * it * it)[:, None, None]
        k3 = ks[:, None, None]
        zz = zs[:, :, None] * zs[:, None, :]
        sz = S_prev[:, :, None] * zs[:, None, :]
        kz_ = K_prev[:, :, None] * zs[:, None, :]
        sym = lambda a: a + np.swapaxes(a, 1, 2)  # noqa: E731
        delta = (k3 * zz
                 - (sym(kz_) + k3 * sym(sz) + 2 * k3 * zz) * it[:, None, None]
                 + ratio * (sym(sz) + zz))
        cum = np.concatenate([np.zeros((1, kz, kz)), np.cumsum(delta, axis=0)])
        return cls(order=order, counts=counts, z_sorted=zs, D=cum[counts],
                   unit=unit, kept=kept, inv_t=1.0 / t_i[unit],
                   U=sparse.csr_matrix((np.ones(n), (unit, np.arange(n))), shape=(len(t_i), n)))

    def running(self, v: np.ndarray) -> np.ndarray:
        """w~(g)'v at every grid point for transformed v (n, ...), zeros on dropped rows.

        Equals sum_{q_it <= g} z_it (v_it - vbar_i) with vbar_i = (sum_t v_it) / T_i.
        Returns shape (G, kz, *v.shape[1:]).
        """
        flat = v.reshape(len(v), -1)
        sums = np.asarray(self.U @ flat)
        adj = (flat - sums[self.unit] * self.inv_t[:, None]).reshape(v.shape)
        vs = adj[self.order]
        prod = self.z_sorted.reshape(self.z_sorted.shape + (1,) * (vs.ndim - 1)) * vs[:, None]
        cum = np.cumsum(prod, axis=0)
        out = np.zeros((len(self.counts),) + prod.shape[1:])
        pos = self.counts > 0
        out[pos] = cum[self.counts[pos] - 1]
        return out


def orthonormal_basis(B: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of B (n, k) by Cholesky QR applied twice.

    For the tall, thin designs here this is far cheaper than Householder QR and,
    repeated once, as accurate for any design that is not near-collinear; a
    near-collinear design raises ``LinAlgError``.
    """
    if B.shape[1] == 0:
        return B.copy()
    norms = np.linalg.norm(B, axis=0)
    if norms.min() <= _SINGULAR_RTOL * max(norms.max(), 1.0):
        raise np.linalg.LinAlgError("a fixed regressor of the threshold search is zero after the transformation")
    Q = B / norms
    eig = np.linalg.eigvalsh(Q.T @ Q)
    if eig.min() <= _SINGULAR_RTOL:
        raise np.linalg.LinAlgError("fixed regressors of the threshold search are collinear")
    for _ in range(2):
        L = np.linalg.cholesky(Q.T @ Q)
        Q = np.linalg.solve(L, Q.T).T
    return Q


def _exclusive_unit_cumsum(v: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Running sum of v over earlier rows of the same unit (rows in their given order)."""
    n = len(v)
    by_unit = np.argsort(unit, kind="stable")
    vu = v[by_unit]
    csum = np.cumsum(vu, axis=0)
    uu = unit[by_unit]
    starts = np.r_[0, np.flatnonzero(np.diff(uu)) + 1]
    lens = np.diff(np.r_[starts, n])
    base = np.repeat(csum[starts] - vu[starts], lens, axis=0)
    out = np.empty_like(v)
    out[by_unit] = csum - vu - base
    return out


@dataclass(frozen=True)
class ProfileBase:
    """Projection on the regressors held fixed during one search (x, z and fixed thresholds).

    ``Q`` is an orthonormal basis of the within-transformed fixed regressors and
    ``Ainv`` the (pseudo-)inverse of A(g) at each grid point, with ``ok`` false
    where A(g) is singular (a regime without within-unit variation).
    """

    Q: np.ndarray
    Ainv: np.ndarray
    ok: np.ndarray

    @classmethod
    def build(cls, design: SortedDesign, fixed: np.ndarray) -> "ProfileBase":
        Q = orthonormal_basis(fixed)
        C = design.running(Q)  # (G, kz, kb)
        A = design.D - np.einsum("gzb,gwb->gzw", C, C)
        scale = np.maximum(np.einsum("gzz->g", np.abs(design.D)), 1e-300)
        eig = np.linalg.eigvalsh(A)
        ok = eig.min(axis=1) > _SINGULAR_RTOL * scale
        Ainv = np.zeros_like(A)
        if ok.any():
            Ainv[ok] = np.linalg.inv(A[ok])
        return cls(Q=Q, Ainv=Ainv, ok=ok)

    def residualize(self, y: np.ndarray) -> np.ndarray:
        """M_B y for a vector (n,) or matrix (n, B) of within-transformed outcomes."""
        return y - self.Q @ (self.Q.T @ y)


def ssr_profile(design: SortedDesign, base: ProfileBase, y: np.ndarray) -> tuple[np.ndarray, float]:
    """SSR at every grid point for one within-transformed outcome ``y`` (n,).

    Returns (ssr (G,), ssr of the base model without the new threshold).
    Singular grid points get the base SSR (no fit improvement possible).
    """
    ssr, ssr0 = ssr_profiles_many(design, base, y[:, None])
    return ssr[:, 0], float(ssr0[0])


def ssr_profiles_many(design: SortedDesign, base: ProfileBase, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSR profiles for several outcomes at once: ``Y`` (n, B) -> ((G, B), (B,))."""
    E = base.residualize(Y)
    ssr0 = np.einsum("nb,nb->b", E, E)
    r = design.running(E)  # (G, kz, B)
    gain = np.einsum("gzb,gzw,gwb->gb", r, base.Ainv, r)
    gain[~base.ok] = 0.0
    return ssr0[None, :] - gain, ssr0
