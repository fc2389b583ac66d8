"""Multiplier bootstrap of influence functions with sup-t uniform confidence bands.

Given the influence functions ``ψ_i`` (units × parameters) of asymptotically
linear estimators, each bootstrap draw perturbs them with i.i.d. multipliers
``V_c`` (mean 0, variance 1) drawn per cluster:
``b* = √C · mean_c(V_c ψ̄_c)`` with ``ψ̄_c`` the cluster mean of the influence
function. Standard errors are the bootstrap interquartile range divided by that
of the standard normal; the uniform band's critical value is the ``1 - α``
quantile of ``max_j |b*_j / se_j|`` (Callaway & Sant'Anna 2021, Section 4.1,
Algorithm 1; Montiel Olea & Plagborg-Møller 2019, "Simultaneous confidence
bands", Journal of Applied Econometrics 34(1): 1–17).

All draws are one matrix product (processed in blocks of draws to bound memory),
never a Python loop over draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from fiproxy.estimators.inference.bootstrap_weights import draw_weights

__all__ = ["Multipliers", "multiplier_bootstrap", "analytic_vcov"]

_IQR_NORMAL = norm.ppf(0.75) - norm.ppf(0.25)
_TINY = np.sqrt(np.finfo(float).eps) * 10
_BLOCK = 2**22  # multiplier elements per block of draws


@dataclass(frozen=True)
class Multipliers:
    """How to draw the multipliers: clusters, number of draws, law and seed.

    The same seed gives the same multipliers for every set of influence
    functions, so the ATT(g,t) and all their aggregations share one bootstrap.
    The (draws × clusters) matrix is drawn once and kept when it is small.
    """

    cluster: np.ndarray  # (n,) int codes 0..C-1
    biters: int
    kind: str = "mammen"
    seed: int | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_clusters(self) -> int:
        return int(self.cluster.max()) + 1

    def blocks(self):
        """Yield the multiplier matrix in blocks of draws (each block: draws × clusters)."""
        if "V" in self._cache:
            yield self._cache["V"]
            return
        C = self.n_clusters
        rng = np.random.default_rng(self.seed)
        block = max(1, _BLOCK // C)
        if self.biters <= block:
            self._cache["V"] = draw_weights(self.kind, C, self.biters, rng)
            yield self._cache["V"]
            return
        for start in range(0, self.biters, block):
            yield draw_weights(self.kind, C, min(block, self.biters - start), rng)


def _order_stat(sorted_draws: np.ndarray, q: float) -> np.ndarray:
    """Inverse empirical CDF (the smallest draw with F >= q) of each column of sorted draws."""
    B = sorted_draws.shape[0]
    return sorted_draws[max(int(np.ceil(q * B)) - 1, 0)]


def analytic_vcov(inf: np.ndarray, cluster: np.ndarray) -> np.ndarray:
    """Covariance of the estimators from influence functions (n × k), summed within clusters: S'S / n²."""
    n = inf.shape[0]
    S = np.zeros((int(cluster.max()) + 1, inf.shape[1]))
    np.add.at(S, cluster, inf)
    return S.T @ S / n**2


def multiplier_bootstrap(inf: np.ndarray, mult: Multipliers, alpha: float) -> dict:
    """Bootstrap standard errors, covariance and sup-t critical value.

    Returns ``se`` (k,), ``vcov`` (k × k, bootstrap correlation scaled by ``se``),
    ``crit`` (uniform-band critical value at level 1 - ``alpha``) and ``draws``.
    Parameters whose influence function is identically zero (e.g. the base
    cell of a universal base period) get ``se = nan`` and are left out of the band.
    """
    C = mult.n_clusters
    if C == inf.shape[0] and np.array_equal(mult.cluster, np.arange(C)):
        psi = inf
    else:
        counts = np.bincount(mult.cluster, minlength=C).astype(float)
        psi = np.zeros((C, inf.shape[1]))
        np.add.at(psi, mult.cluster, inf)
        psi /= counts[:, None]
    draws = np.vstack([V @ psi for V in mult.blocks()]) / np.sqrt(C)
    live = (draws**2).sum(axis=0) > _TINY
    srt = np.sort(draws, axis=0)
    sigma = (_order_stat(srt, 0.75) - _order_stat(srt, 0.25)) / _IQR_NORMAL
    live &= sigma > _TINY
    se = np.where(live, sigma, np.nan) / np.sqrt(C)
    if live.any():
        tmax = np.max(np.abs(draws[:, live] / sigma[live]), axis=1)
        crit = float(_order_stat(np.sort(tmax), 1 - alpha))
    else:
        crit = float("nan")
    corr = np.zeros((draws.shape[1], draws.shape[1]))
    if live.any():
        corr[np.ix_(live, live)] = np.atleast_2d(np.corrcoef(draws[:, live], rowvar=False))
    se0 = np.nan_to_num(se)
    return {"se": se, "vcov": corr * np.outer(se0, se0), "crit": crit, "draws": draws}
