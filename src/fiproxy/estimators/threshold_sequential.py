"""Sequential estimation of one to three thresholds (Hansen 1999, Section 4; Wang 2015).

Given the transformed outcome, the steps are

1. g1 = argmin S(g);                         S1 = S(g1)
2. g2 = argmin S(g1, g);                     S2 = S(g1, g2)
   refinement: g1r = argmin S(g, g2);        S2r = S(g1r, g2)
3. g3 = argmin S(g1r, g2, g);                S3

and the F statistics of k against k - 1 thresholds are
F1 = (S0 - S1) / s2_1, F2 = (S1 - S2) / s2_2, F3 = (S2r - S3) / s2_3, with
s2_k = S_k / (N - number of units) (Hansen 1999, eqs. 12, 19). The same
steps run on every bootstrap sample, so each bootstrap statistic mimics the
sample statistic exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fiproxy.estimators.demean import demean
from fiproxy.estimators.threshold_grid import admissible
from fiproxy.estimators.threshold_search import ProfileBase, SortedDesign, ssr_profile

__all__ = ["ThresholdProblem", "Step", "SequentialFit", "sequential_fit", "NoAdmissibleThreshold",
           "panel_transform"]


def panel_transform(a: np.ndarray, unit: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Within transformation by unit (:func:`demean`), zeroing the rows deleted by Hansen's stacking."""
    out = demean(a, unit[:, None])[0]
    return out * (kept if out.ndim == 1 else kept[:, None])


class NoAdmissibleThreshold(ValueError):
    """No candidate threshold satisfies the trimming rule at some step."""


@dataclass
class ThresholdProblem:
    """Design of one threshold search: everything except the outcome.

    ``Xt`` and ``Zt`` are the transformed regime-independent and regime-dependent
    regressors (zeros on rows deleted by the transformation); ``z`` is the
    untransformed regime-dependent block; ``m`` the minimum regime size (in
    observations) of each threshold step; ``df`` the residual degrees of freedom
    N - number of units used in the F and LR statistics.
    """

    unit: np.ndarray
    kept: np.ndarray
    q: np.ndarray
    z: np.ndarray
    Xt: np.ndarray
    Zt: np.ndarray
    grid: np.ndarray
    m: tuple
    df: int
    design: SortedDesign = field(init=False)
    _bases: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.design = SortedDesign.build(self.z, self.q, self.unit, self.grid, self.kept)

    def transform(self, a: np.ndarray) -> np.ndarray:
        """Within transformation (one fixed effect: the unit), zeroing deleted rows."""
        return panel_transform(a, self.unit, self.kept)

    def regime_block(self, gamma: float) -> np.ndarray:
        """Transformed z * 1(q <= gamma)."""
        return self.transform(self.z * (self.q <= gamma)[:, None])

    def base(self, fixed: tuple[int, ...]) -> ProfileBase:
        """Projection on x, z and the thresholds at grid positions ``fixed`` (cached)."""
        key = tuple(sorted(fixed))
        if key not in self._bases:
            blocks = [self.Xt, self.Zt] + [self.regime_block(self.grid[j]) for j in key]
            self._bases[key] = ProfileBase.build(self.design, np.hstack(blocks))
        return self._bases[key]

    def fitted_and_residuals(self, y: np.ndarray, fixed: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Fitted values and residuals of the model with thresholds at grid positions ``fixed``."""
        e = self.base(fixed).residualize(y)
        return y - e, e


@dataclass(frozen=True)
class Step:
    """One search: chosen grid position, its SSR, and the SSR profile (inf where not admissible)."""

    index: int
    ssr: float
    profile: np.ndarray

    def gamma(self, grid: np.ndarray) -> float:
        return float(grid[self.index])


@dataclass(frozen=True)
class SequentialFit:
    """Steps "1", "2", "1r", "3" (those that were run), the linear-model SSR and the F statistics."""

    ssr0: float
    steps: dict
    F: tuple

    def thresholds(self, k: int) -> tuple[int, ...]:
        """Grid positions of the thresholds of the k-threshold model (sorted by position)."""
        if k == 1:
            idx = [self.steps["1"].index]
        elif k == 2:
            idx = [self.steps["1r"].index, self.steps["2"].index]
        else:
            idx = [self.steps["1r"].index, self.steps["2"].index, self.steps["3"].index]
        return tuple(sorted(idx))

    def ssr(self, k: int) -> float:
        """SSR of the k-threshold model at its reported thresholds."""
        if k == 0:
            return self.ssr0
        return self.steps[{1: "1", 2: "1r", 3: "3"}[k]].ssr


def _search(problem: ThresholdProblem, y: np.ndarray, fixed: tuple[int, ...], step: int) -> Step:
    """Minimize the SSR over admissible grid points given thresholds at ``fixed``."""
    profile, _ = ssr_profile(problem.design, problem.base(fixed), y)
    ok = admissible(problem.design.counts, problem.design.counts[list(fixed)], problem.m[step - 1])
    ok &= problem.base(fixed).ok
    if not ok.any():
        raise NoAdmissibleThreshold(
            f"no admissible candidate for threshold {step}: every grid point leaves fewer than "
            f"{problem.m[step - 1]} observations between it and the thresholds already placed "
            f"(or a regime without within-unit variation)")
    profile = np.where(ok, profile, np.inf)
    j = int(np.argmin(profile))
    return Step(index=j, ssr=float(profile[j]), profile=profile)


def sequential_fit(problem: ThresholdProblem, y: np.ndarray, n_thresholds: int,
                   first: Step | None = None, ssr0: float | None = None) -> SequentialFit:
    """Run the sequential steps up to ``n_thresholds`` on transformed outcome ``y``.

    ``first``/``ssr0`` pass a first step already computed (vectorized bootstrap).
    """
    if first is None:
        first = _search(problem, y, (), 1)
        ssr0 = float(np.sum(problem.base(()).residualize(y) ** 2))
    steps = {"1": first}
    F = [(ssr0 - first.ssr) / (first.ssr / problem.df)]
    if n_thresholds >= 2:
        s2 = _search(problem, y, (first.index,), 2)
        s1r = _search(problem, y, (s2.index,), 2)
        steps.update({"2": s2, "1r": s1r})
        F.append((first.ssr - s2.ssr) / (s2.ssr / problem.df))
    if n_thresholds >= 3:
        s3 = _search(problem, y, (steps["1r"].index, steps["2"].index), 3)
        steps["3"] = s3
        F.append((steps["1r"].ssr - s3.ssr) / (s3.ssr / problem.df))
    return SequentialFit(ssr0=float(ssr0), steps=steps, F=tuple(F))
