"""Simulated spatial panels for the spatial test files (no real data)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fiproxy.estimators.spatial_weights import SpatialWeights


def random_weights(n: int = 31, seed: int = 1, cutoff_km: float = 1500.0) -> SpatialWeights:
    """Inverse-distance weights on random points in a China-sized box (symmetric base)."""
    rng = np.random.default_rng(seed)
    lat, lon = rng.uniform(20, 45, n), rng.uniform(90, 125, n)
    return SpatialWeights.from_coordinates(lat, lon, list(range(11, 11 + n)), kind="inverse_distance", cutoff_km=cutoff_km)


def ring_weights(n: int = 31) -> SpatialWeights:
    """Each unit linked to its two ring neighbours: row-standardized and doubly stochastic."""
    ids = list(range(n))
    return SpatialWeights.from_adjacency({i: [(i - 1) % n, (i + 1) % n] for i in ids}, ids=ids)


def simulate_sdm(W: SpatialWeights, T: int = 13, rho: float = 0.4, beta=(1.0, -0.5), theta=(0.5, 0.3),
                 sigma: float = 0.5, seed: int = 0, unit_effects: bool = True, time_effects: bool = True) -> pd.DataFrame:
    """y_t = (I - ρW)^-1 (X_t β + W X_t θ + μ + α_t + ε_t), long format (prov_code, year, y, x1, x2 …)."""
    rng = np.random.default_rng(seed)
    Wd = W.dense()
    N = W.n
    beta, theta = np.asarray(beta, float), np.asarray(theta, float)
    k = len(beta)
    mu = rng.normal(size=N) if unit_effects else np.zeros(N)
    alpha = rng.normal(size=T) if time_effects else np.zeros(T)
    A = np.linalg.inv(np.eye(N) - rho * Wd)
    rows = []
    for t in range(T):
        X = rng.normal(size=(N, k)) + 0.5 * mu[:, None]
        y = A @ (X @ beta + Wd @ X @ theta + mu + alpha[t] + sigma * rng.normal(size=N))
        for i in range(N):
            rows.append((W.ids[i], 2011 + t, y[i], *X[i]))
    return pd.DataFrame(rows, columns=["prov_code", "year", "y", *[f"x{j + 1}" for j in range(k)]])
