"""Direct, indirect and total effects of spatial lag models with their standard errors.

For the spatial Durbin model ``y = ρWy + Xβ + WXθ + ε`` the matrix of
partial derivatives of E[y] with respect to regressor k is
``S_k(W) = (I - ρW)^-1 (β_k I + θ_k W)`` (LeSage & Pace 2009, *Introduction to
Spatial Econometrics*, sec. 2.7). The average direct effect is the mean of
its diagonal, the average total effect the mean of its row sums, and the
indirect (spillover) effect their difference. With ``W = V diag(ω) V^-1``::

    direct_k = β_k a(ρ) + θ_k b(ρ),   a = mean 1/(1-ρω),   b = mean ω/(1-ρω)
    total_k  = β_k c(ρ) + θ_k d(ρ),   c = Σ q_i/(1-ρω_i)/N, d = Σ q_i ω_i/(1-ρω_i)/N

with ``q_i = (ι'V)_i (V^-1 ι)_i`` (for row-standardized W, ``c = 1/(1-ρ)`` and
``d = c``). SAR is the case θ = 0.

Standard errors use the full covariance of (β, θ, ρ), not only its diagonal:

- ``"delta"``: the delta method with the analytic gradient of the formulas above;
- ``"simulation"``: LeSage & Pace's (2009, sec. 5.6.2) parametric simulation —
  draws from N(estimate, covariance), effects computed for every draw at once
  (vectorized over draws through the eigenvalues), standard error = standard
  deviation of the draws, interval = percentile interval. Draws with ρ outside
  the stationary interval are discarded (their number is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from fiproxy.estimators.spatial_weights import SpatialWeights, WeightsError

__all__ = ["EffectsModel", "effect_estimates", "effects_delta", "effects_simulation", "effects_table"]

_EFFECTS = ("direct", "indirect", "total")


@dataclass(frozen=True)
class EffectsModel:
    """Parameters of a lag model arranged for effects.

    ``params`` = (β_1..β_k, θ for the regressors in ``durbin``, ρ); ``vcov`` its
    covariance; ``names`` the k regressor names; ``durbin`` the positions (in
    0..k-1) of the regressors that have a spatially lagged term.
    """

    params: np.ndarray
    vcov: np.ndarray
    names: tuple
    durbin: tuple
    W: SpatialWeights

    @property
    def k(self) -> int:
        return len(self.names)

    def split(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(β (R,k), θ (R,k) with zeros where no lag, ρ (R,)) from parameter rows p (R, len(params))."""
        p = np.atleast_2d(p)
        k, m = self.k, len(self.durbin)
        beta = p[:, :k]
        theta = np.zeros_like(beta)
        if m:
            theta[:, list(self.durbin)] = p[:, k:k + m]
        return beta, theta, p[:, k + m]


def _row_sum_weights(W: SpatialWeights) -> np.ndarray | None:
    """q_i = (ι'V)_i (V^-1 ι)_i from the eigen decomposition, or None when W is not diagonalizable in practice."""
    try:
        _, V, Vinv = W.eigen()
    except WeightsError:
        return None
    return (np.ones(W.n) @ V) * (Vinv @ np.ones(W.n))


def _spectral(W: SpatialWeights, rho: np.ndarray, derivative: bool = False) -> dict:
    """a, b, c, d (and their ρ-derivatives) for each ρ in the array.

    The traces a and b need only the eigenvalues (the trace of a matrix
    function is Σ f(ω_i) for any W, diagonalizable or not). The row-sum terms
    are ``c = d = 1/(1-ρ)`` for row-standardized W (Wι = ι); otherwise they
    use the eigenvectors, or, when W is not diagonalizable to working
    precision, one linear solve per ρ.
    """
    lam = W.eigenvalues()
    N = W.n
    inv = 1.0 / (1.0 - rho[:, None] * lam[None, :])  # (R, N)
    out = {"a": inv.mean(axis=1).real, "b": (inv * lam).mean(axis=1).real}
    inv2 = inv * inv * lam  # d/dρ of 1/(1-ρω) = ω/(1-ρω)²
    if derivative:
        out["da"] = inv2.mean(axis=1).real
        out["db"] = (inv2 * lam).mean(axis=1).real
    if W.is_row_standardized:
        out["c"] = out["d"] = 1.0 / (1.0 - rho)
        if derivative:
            out["dc"] = out["dd"] = 1.0 / (1.0 - rho) ** 2
        return out
    q = _row_sum_weights(W)
    if q is not None:
        out["c"] = ((inv * q).sum(axis=1) / N).real
        out["d"] = ((inv * (q * lam)).sum(axis=1) / N).real
        if derivative:
            out["dc"] = ((inv2 * q).sum(axis=1) / N).real
            out["dd"] = ((inv2 * (q * lam)).sum(axis=1) / N).real
        return out
    Wd = W.dense()
    one, w1 = np.ones(N), Wd.sum(axis=1)
    cols = {key: np.empty(len(rho)) for key in ("c", "d", "dc", "dd")}
    for r, p in enumerate(rho):  # with A = (I - ρW)^-1: c = ι'Aι/N, d = ι'AWι/N, dA/dρ = AWA
        B = np.eye(N) - p * Wd
        u = np.linalg.solve(B.T, one)  # A'ι
        v = np.linalg.solve(B, np.column_stack([one, w1]))  # Aι, AWι
        cols["c"][r], cols["d"][r] = u @ one / N, u @ w1 / N
        cols["dc"][r], cols["dd"][r] = u @ (Wd @ v[:, 0]) / N, u @ (Wd @ v[:, 1]) / N
    out.update({k: v for k, v in cols.items() if derivative or k in ("c", "d")})
    return out


def effect_estimates(model: EffectsModel, p: np.ndarray | None = None) -> np.ndarray:
    """Effects for parameter rows ``p`` (default: the estimates): array (R, k, 3) of direct, indirect, total."""
    p = model.params[None, :] if p is None else np.atleast_2d(p)
    beta, theta, rho = model.split(p)
    s = _spectral(model.W, rho)
    direct = beta * s["a"][:, None] + theta * s["b"][:, None]
    total = beta * s["c"][:, None] + theta * s["d"][:, None]
    return np.stack([direct, total - direct, total], axis=2)


def effects_delta(model: EffectsModel) -> tuple[np.ndarray, np.ndarray]:
    """Point effects (k, 3) and delta-method standard errors (k, 3) from the full covariance."""
    beta, theta, rho = model.split(model.params)
    s = _spectral(model.W, rho, derivative=True)
    k = model.k
    P = len(model.params)
    est = effect_estimates(model)[0]
    se = np.empty((k, 3))
    for j in range(k):
        g_dir = np.zeros(P)
        g_tot = np.zeros(P)
        g_dir[j], g_tot[j] = s["a"][0], s["c"][0]
        if j in model.durbin:
            pos = k + model.durbin.index(j)
            g_dir[pos], g_tot[pos] = s["b"][0], s["d"][0]
        g_dir[P - 1] = beta[0, j] * s["da"][0] + theta[0, j] * s["db"][0]
        g_tot[P - 1] = beta[0, j] * s["dc"][0] + theta[0, j] * s["dd"][0]
        G = np.vstack([g_dir, g_tot - g_dir, g_tot])
        se[j] = np.sqrt(np.clip(np.einsum("ep,pq,eq->e", G, model.vcov, G), 0, None))
    return est, se


def effects_simulation(model: EffectsModel, draws: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Parametric simulation of the effects (LeSage & Pace 2009, sec. 5.6.2).

    Returns the point effects (k, 3), simulated standard errors (k, 3),
    percentile interval bounds (k, 3) each, and the number of draws kept.
    """
    if draws < 2:
        raise ValueError(f"draws must be at least 2, got {draws}")
    rng = np.random.default_rng(seed)
    P = rng.multivariate_normal(model.params, model.vcov, size=draws, method="eigh")
    lo, hi = model.W.rho_bounds()
    ok = (P[:, -1] > lo) & (P[:, -1] < hi)
    sims = effect_estimates(model, P[ok])
    alpha = (1 - level) / 2
    return (effect_estimates(model)[0], sims.std(axis=0, ddof=1),
            np.quantile(sims, alpha, axis=0), np.quantile(sims, 1 - alpha, axis=0), int(ok.sum()))


def effects_table(names, est: np.ndarray, se: np.ndarray, lower: np.ndarray | None = None,
                  upper: np.ndarray | None = None, level: float = 0.95) -> pd.DataFrame:
    """Tidy table indexed by (variable, effect) with estimate, se, z, p, ci_lower, ci_upper.

    Without explicit bounds the interval is the normal one, estimate ± z·se.
    """
    crit = stats.norm.ppf(1 - (1 - level) / 2)
    if lower is None:
        lower, upper = est - crit * se, est + crit * se
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    idx = pd.MultiIndex.from_product([list(names), list(_EFFECTS)], names=["variable", "effect"])
    return pd.DataFrame(
        {
            "estimate": est.reshape(-1),
            "se": se.reshape(-1),
            "z": z.reshape(-1),
            "p": (2 * stats.norm.sf(np.abs(z))).reshape(-1),
            "ci_lower": lower.reshape(-1),
            "ci_upper": upper.reshape(-1),
        },
        index=idx,
    )
