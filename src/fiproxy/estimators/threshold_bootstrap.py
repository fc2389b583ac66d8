"""Bootstrap F tests for the number of thresholds (Hansen 1999, Section 3.1 and 4).

For the test of k against k - 1 thresholds the outcome is rebuilt under the
null: y* = fitted values of the (k - 1)-threshold model + resampled residuals,
on the transformed scale, holding the regressors and the threshold variable
fixed. The sequential estimation (:mod:`threshold_sequential`) is rerun on
y* from scratch, which gives one draw F*_k. The p-value is the share of draws
with F*_k > F_k and the critical values are the 90/95/99% quantiles of the
draws (the ceil(p B)-th order statistic, as in Hansen's code).

Resampling schemes
------------------
``"residual"`` (Hansen 1999): draw units with replacement and give each unit
the whole residual vector of the drawn unit, keeping the time order. In an
unbalanced panel a unit only draws among units with the same number of
(transformed) rows, so every unit keeps its own T_i.
``"wild"``: multiply each unit's residual vector by an independent Rademacher
sign (a wild cluster bootstrap by unit, as Wang's xthreg does for unbalanced
panels).

Every draw has its own seed, spawned from one :class:`numpy.random.SeedSequence`,
so the draws do not depend on how they are split among ``n_jobs`` workers. With an
execution back end (:mod:`fiproxy.parallel`) instead of ``n_jobs`` the draws run in
chunks of ``BACKEND_CHUNK`` whatever the back end and worker count, so the results are
bit-identical across back ends.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed

from fiproxy.estimators.threshold_grid import admissible
from fiproxy.estimators.threshold_search import ssr_profiles_many
from fiproxy.estimators.threshold_sequential import (
    NoAdmissibleThreshold,
    Step,
    ThresholdProblem,
    sequential_fit,
)

__all__ = ["UnitResampler", "bootstrap_F", "BOOTSTRAP_SCHEMES"]

BOOTSTRAP_SCHEMES = ("residual", "wild")
_PREFER = "threads"
BACKEND_CHUNK = 50  # draws per task on an execution back end


class UnitResampler:
    """Row maps that move whole unit residual vectors (rows sorted by unit, then time)."""

    def __init__(self, unit: np.ndarray, kept: np.ndarray, scheme: str):
        if scheme not in BOOTSTRAP_SCHEMES:
            raise ValueError(f"bootstrap scheme must be one of {BOOTSTRAP_SCHEMES}, got {scheme!r}")
        self.scheme = scheme
        self.n = len(unit)
        self.unit = unit
        rows = np.flatnonzero(kept)
        lengths = np.bincount(unit[rows], minlength=int(unit.max()) + 1)
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        # strata: units with the same number of kept rows -> (n_units_s, T_s) row matrices
        self.strata = []
        for t in np.unique(lengths[lengths > 0]):
            members = np.flatnonzero(lengths == t)
            self.strata.append(rows[starts[members][:, None] + np.arange(t)[None, :]])

    @property
    def smallest_stratum(self) -> int:
        return min(len(s) for s in self.strata)

    def draw(self, rng: np.random.Generator, e: np.ndarray) -> np.ndarray:
        """One bootstrap residual vector from residuals ``e`` (zeros on deleted rows)."""
        if self.scheme == "wild":
            sign = rng.choice(np.array([-1.0, 1.0]), size=int(self.unit.max()) + 1)
            return e * sign[self.unit]
        out = np.zeros_like(e)
        for rows in self.strata:
            src = rng.integers(0, len(rows), size=len(rows))
            out[rows] = e[rows[src]]
        return out


def _chunk(problem: ThresholdProblem, yhat: np.ndarray, e: np.ndarray, k: int,
           seeds: list, resampler: UnitResampler) -> tuple[np.ndarray, int]:
    """F*_k for the draws seeded by ``seeds``; also the number of draws with no admissible threshold."""
    Y = np.column_stack([yhat + resampler.draw(np.random.default_rng(s), e) for s in seeds])
    base0 = problem.base(())
    prof, ssr0 = ssr_profiles_many(problem.design, base0, Y)
    ok = admissible(problem.design.counts, [], problem.m[0]) & base0.ok
    prof[~ok] = np.inf
    j1 = np.argmin(prof, axis=0)
    s1 = prof[j1, np.arange(Y.shape[1])]
    if k == 1:
        return (ssr0 - s1) / (s1 / problem.df), 0
    out = np.empty(Y.shape[1])
    failed = 0
    for b in range(Y.shape[1]):
        first = Step(index=int(j1[b]), ssr=float(s1[b]), profile=prof[:, b])
        try:
            out[b] = sequential_fit(problem, Y[:, b], k, first=first, ssr0=float(ssr0[b])).F[k - 1]
        except NoAdmissibleThreshold:
            out[b] = 0.0
            failed += 1
    return out, failed


def _chunk_task(shared: tuple, seeds: list) -> tuple[np.ndarray, int]:
    problem, yhat, e, k, resampler = shared
    return _chunk(problem, yhat, e, k, seeds, resampler)


def bootstrap_F(problem: ThresholdProblem, yhat: np.ndarray, e: np.ndarray, k: int, seeds: list,
                resampler: UnitResampler, n_jobs=1) -> tuple[np.ndarray, int]:
    """Bootstrap draws of F_k (k against k - 1 thresholds), in parallel over ``n_jobs`` workers.

    ``yhat``/``e`` are the fitted values and residuals of the (k - 1)-threshold
    model; ``seeds`` one SeedSequence per draw. ``n_jobs`` may also be a
    :class:`fiproxy.parallel.Backend`. Returns (draws, failed draws).
    """
    B = len(seeds)
    if B == 0:
        return np.empty(0), 0
    from fiproxy.parallel import Backend

    if isinstance(n_jobs, Backend):
        chunks = [seeds[a:a + BACKEND_CHUNK] for a in range(0, B, BACKEND_CHUNK)]
        parts = n_jobs.map(_chunk_task, chunks, shared=(problem, yhat, e, k, resampler))
        return np.concatenate([p[0] for p in parts]), int(sum(p[1] for p in parts))
    n_workers = 1 if n_jobs in (None, 0, 1) else n_jobs
    if n_workers == 1:
        return _chunk(problem, yhat, e, k, seeds, resampler)
    n_chunks = min(B, 4 * (n_workers if n_workers > 0 else 8))
    bounds = np.linspace(0, B, n_chunks + 1).astype(int)
    parts = Parallel(n_jobs=n_workers, prefer=_PREFER)(
        delayed(_chunk)(problem, yhat, e, k, seeds[a:b], resampler)
        for a, b in zip(bounds[:-1], bounds[1:]) if b > a
    )
    return np.concatenate([p[0] for p in parts]), int(sum(p[1] for p in parts))
