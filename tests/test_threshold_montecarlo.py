"""Monte Carlo checks of fiproxy.threshold: recovery of known thresholds and bootstrap test size.

Design: y_it = mu_i + 0.5 x_it + z_it (1 + d 1(q_it > 0.5)) + e_it, q ~ U(0, 1) (3 decimals),
e ~ N(0, 0.5^2), x correlated with mu_i. Hansen (1999, Theorem 1) gives an n-consistent
threshold estimator, so with d = 1 the estimate lies within a few grid steps of the truth;
with d = 0 (no threshold) the bootstrap p-value of F1 is approximately uniform.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fiproxy


def _panel(rng, n_units, n_periods, thresholds=(0.5,), effects=(1.0,)):
    unit = np.repeat(np.arange(n_units), n_periods)
    mu = rng.normal(size=n_units)[unit]
    q = np.round(rng.uniform(size=unit.size), 3)
    x = rng.normal(size=unit.size) + 0.3 * mu
    z = rng.normal(size=unit.size)
    slope = np.ones(unit.size)
    for g, d in zip(thresholds, effects):
        slope += d * (q > g)
    y = mu + 0.5 * x + z * slope + rng.normal(scale=0.5, size=unit.size)
    return pd.DataFrame({"id": unit, "year": np.tile(np.arange(n_periods), n_units), "y": y, "x": x, "z": z, "q": q})


def _recovery(reps, n_units, seed):
    rng = np.random.default_rng(seed)
    est = [fiproxy.threshold("y ~ x | id", _panel(rng, n_units, 5), q="q", regime="z", bootstrap=0)
           .stats["th1"] for _ in range(reps)]
    return np.abs(np.array(est) - 0.5)


def _size(reps, n_units, B, seed):
    rng = np.random.default_rng(seed)
    p = []
    for r in range(reps):
        df = _panel(rng, n_units, 5, effects=(0.0,))
        p.append(fiproxy.threshold("y ~ x | id", df, q="q", regime="z", bootstrap=B, seed=r).stats["F1_pvalue"])
    return np.array(p)


def test_single_threshold_recovered():
    """100 units x 5 periods, d = 1: every one of 20 estimates within 0.05 of 0.5, median within 0.01."""
    err = _recovery(20, 100, seed=123)
    assert err.max() < 0.05
    assert np.median(err) < 0.01


def test_bootstrap_size_no_threshold():
    """No threshold, 40 replications with B = 49: mean bootstrap p-value in (0.33, 0.67)
    (about 3 standard errors of the mean of a uniform) and at most 10 rejections at 10%
    (binomial(40, 0.1) exceeds 10 with probability < 0.002)."""
    p = _size(40, 40, 49, seed=7)
    assert 0.33 < p.mean() < 0.67
    assert (p < 0.10).sum() <= 10


@pytest.mark.slow
def test_single_threshold_recovered_large():
    """200 units x 5 periods, 100 replications: 99% of estimates within 0.02 of the truth."""
    err = _recovery(100, 200, seed=321)
    assert np.quantile(err, 0.99) < 0.02


@pytest.mark.slow
def test_bootstrap_size_no_threshold_large():
    """300 replications, B = 199, 100 units x 5 periods: rejection rate at 5% in [0.02, 0.09]
    (binomial(300, 0.05) lies outside with probability < 0.01)."""
    p = _size(300, 100, 199, seed=11)
    rate = float((p < 0.05).mean())
    assert 0.02 <= rate <= 0.09, rate


@pytest.mark.slow
def test_double_threshold_recovered():
    """Thresholds 0.3 and 0.7 (slope steps 1 and -1.5), 200 units x 5 periods, 30 replications:
    both estimated within 0.03 in at least 90% of the replications."""
    rng = np.random.default_rng(99)
    hits = 0
    for _ in range(30):
        df = _panel(rng, 200, 5, thresholds=(0.3, 0.7), effects=(1.0, -1.5))
        g = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", n_thresholds=2, bootstrap=0).stats["thresholds"]
        hits += abs(g[0] - 0.3) < 0.03 and abs(g[1] - 0.7) < 0.03
    assert hits >= 27
