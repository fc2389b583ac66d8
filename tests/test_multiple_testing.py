"""Holm / Benjamini–Hochberg against statsmodels (exact) and Romano–Wolf against
pyfixest ``rwolf`` (Monte Carlo: B = 1999, |Δp| < 0.05 by default; B = 9999,
|Δp| < 0.02 in the slow run) and exact small examples.

pyfixest's rwolf reports (count + 1)/(B + 1); ours count/B (the same convention
as the single-test bootstrap p-values), a difference below 1e-4 at B = 9999.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from fiproxy.estimators.inference.multiple_testing import benjamini_hochberg, holm, romano_wolf, stepdown_maxt
from fiproxy.estimators.inference.bootstrap_weights import enumerate_weights
from fiproxy.estimators.inference.wild_bootstrap import BootstrapWarning, problem_from_result, wild_bootstrap
from fiproxy.estimators.twfe import twfe


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holm_bh_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0, 0.05, 5), rng.uniform(0, 1, 15), [0.01, 0.01, 1.0]])  # with ties
    rng.shuffle(p)
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], rtol=0, atol=1e-15)


def test_holm_bh_small_example_and_series():
    p = pd.Series([0.01, 0.04, 0.03, 0.20], index=list("abcd"), name="p")
    # Holm: sorted .01,.03,.04,.20 -> 4*.01, 3*.03, 2*.04, 1*.20 -> .04,.09,.09(max),.20
    assert holm(p).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.20])
    # BH: m*p/rank = .04, .08, .06, .20 -> running min from the top: .04, .06, .06, .20
    out = benjamini_hochberg(p)
    assert isinstance(out, pd.Series) and list(out.index) == list("abcd")
    assert out.tolist() == pytest.approx([0.04, 0.0533333333333, 0.0533333333333, 0.20])
    with pytest.raises(ValueError, match="NaN at positions \\[1\\]"):
        holm([0.1, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.1, 1.2])


def test_stepdown_maxt_formula():
    t = np.array([3.0, 1.0, 2.0])
    tb = np.array([[0.5, 2.5, 1.0],
                   [3.5, 0.2, 0.1],
                   [1.0, 1.5, 2.2],
                   [0.1, 0.3, 0.4]])
    # step 1 (|t|=3, all three): max per draw 2.5, 3.5, 2.2, 0.4 -> 1/4 >= 3
    # step 2 (|t|=2, hypotheses 3 and 2): max 2.5, 0.2, 2.2, 0.4 -> 2/4 >= 2
    # step 3 (|t|=1, hypothesis 2): 2.5, 0.2, 1.5, 0.3 -> 2/4 >= 1; monotone: max(.5, .5)
    np.testing.assert_allclose(stepdown_maxt(t, tb), [0.25, 0.5, 0.5])
    # with a single hypothesis it is the bootstrap p-value
    assert stepdown_maxt(t[:1], tb[:, :1])[0] == pytest.approx(np.mean(np.abs(tb[:, 0]) >= 3.0))
    with pytest.raises(ValueError, match="shape"):
        stepdown_maxt(t, tb[:, :2])


def _panel(seed=5, G=31, T=13, S=4):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"g": np.repeat(np.arange(G), T), "year": np.tile(np.arange(T), G)})
    n = len(df)
    df["x"] = rng.normal(size=n) + 0.5 * rng.normal(size=G)[df.g]
    common = rng.normal(size=G)[df.g]
    for j in range(S):
        df[f"y{j}"] = 0.08 * j * df.x + 0.5 * common + rng.normal(size=G)[df.g] + rng.normal(size=n)
    return df


@pytest.mark.parametrize("B, tol", [
    (1999, 0.05),  # 3.5 Monte Carlo SE of a difference of two p-values near 0.5
    pytest.param(9999, 0.02, marks=pytest.mark.slow),
])
def test_romano_wolf_matches_pyfixest_rwolf(B, tol):
    import pyfixest as pf

    df = _panel()
    fmls = [f"y{j} ~ x | g + year" for j in range(4)]
    res = [twfe(f, df, vcov={"CRV1": "g"}) for f in fmls]
    mine = romano_wolf(res, "x", B=B, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.rwolf([pf.feols(f, df, vcov={"CRV1": "g"}) for f in fmls], "x", reps=B, seed=2)
    np.testing.assert_allclose(mine["p_rw"].to_numpy(), ref.loc["RW Pr(>|t|)"].to_numpy(dtype=float), atol=tol)
    assert mine["p_rw"].between(0.02, 0.98).sum() >= 2  # not only boundary values compared
    assert (mine["p_rw"] >= mine["p_boot"] - 1e-12).all()
    np.testing.assert_allclose(mine["t"], [r.tstat["x"] for r in res], rtol=1e-10)


def test_romano_wolf_full_enumeration_exact():
    """Under full enumeration every draw is deterministic: single p-values equal
    wild_bootstrap's, and the first stepdown p-value is the share of max |t*| >= max |t|;
    a model on a subset of clusters sees each of its weight patterns equally often."""
    df = _panel(seed=9, G=8, T=6, S=3)
    sub = df[df.g < 6]
    res = [twfe("y0 ~ x | g", df, vcov={"CRV1": "g"}), twfe("y1 ~ x | g", df, vcov={"CRV1": "g"}),
           twfe("y2 ~ x | g", sub, vcov={"CRV1": "g"})]
    with pytest.warns(BootstrapWarning, match="256 distinct draws"):
        out = romano_wolf(res, ["x", "x", "x"], B=9999)
    assert out.attrs["full_enumeration"] and out.attrs["B"] == 256
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = [wild_bootstrap(r, "x", B=9999, return_draws=True) for r in res]
    np.testing.assert_allclose(out["p_boot"], [s.pvalue for s in single], rtol=0, atol=1e-15)
    assert single[2].B == 64  # its own enumeration over 6 clusters gives the same p-value
    # the joint draws: the union enumeration (8 clusters), model 3 using the columns of its 6 clusters
    V = enumerate_weights("rademacher", 8)
    tb = []
    for r, cols in zip(res, (slice(None), slice(None), slice(0, 6))):
        prob, _ = problem_from_result(r, "x")
        tb.append(prob.t_boot(prob.moments(V[:, cols])))
    tb = np.abs(np.column_stack(tb))
    np.testing.assert_allclose(tb[:, :2], np.abs(np.column_stack([s.t_boot for s in single[:2]])), rtol=1e-10)
    t = np.abs(out["t"].to_numpy())
    top = int(np.argmax(t))
    assert out["p_rw"].iloc[top] == pytest.approx(np.mean(tb.max(axis=1) >= t[top] * (1 - 1e-9)), abs=1e-15)
    rest = [j for j in range(3) if j != top]
    nxt = rest[int(np.argmax(t[rest]))]
    p2 = max(np.mean(tb[:, rest].max(axis=1) >= t[nxt] * (1 - 1e-9)), out["p_rw"].iloc[top])
    assert out["p_rw"].iloc[nxt] == pytest.approx(p2, abs=1e-15)


def test_romano_wolf_prepared_problems_same_as_results():
    df = _panel(seed=3, G=20, T=5, S=3)
    res = [twfe(f"y{j} ~ x | year", df, vcov={"CRV1": "g"}) for j in range(3)]
    a = romano_wolf(res, "x", B=999, seed=7)
    prepared = []
    for r in res:
        prob, info = problem_from_result(r, "x")
        prepared.append((prob, info["boot_labels"]))
    b = romano_wolf(prepared, "x", B=999, seed=7)
    np.testing.assert_allclose(a[["t", "p_boot", "p_rw"]].to_numpy(), b[["t", "p_boot", "p_rw"]].to_numpy())


def test_romano_wolf_bad_input():
    df = _panel(G=12, T=4, S=2)
    res = [twfe(f"y{j} ~ x", df, vcov={"CRV1": "g"}) for j in range(2)]
    with pytest.raises(KeyError, match="unknown parameter 'z'"):
        romano_wolf(res, "z", B=99)
    with pytest.raises(ValueError, match="1 params for 2 models"):
        romano_wolf(res, ["x"], B=99)
    with pytest.raises(ValueError, match="no models"):
        romano_wolf([], "x")
