"""Wild cluster bootstrap: reference tests against pyfixest / wildboottest, a direct
(refit-every-draw) implementation, test-inversion intervals and bad input.

Tolerances:
- full enumeration, bootstrap t draws vs wildboottest 0.3.2: 1e-10 absolute;
- full enumeration, WCU p-values vs pyfixest 0.60 ``wildboottest()``: exact;
  WCR p-values: ours counts the two draws that reproduce |t| (v = ±1) as
  extreme, pyfixest's strict ``>`` counts them by floating-point chance, so ours
  is pyfixest's plus between 0 and 2/2^G, and equals the share computed
  from pyfixest's own draws with the same tie rule;
- random draws (B = 9999): |Δp| < 0.02 (≈ 4 Monte Carlo standard errors of a
  difference of two independent p-values near 0.5);
- against the direct implementation: t draws 1e-8 relative.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fiproxy.estimators.inference import bootstrap_weights as bw
from fiproxy.estimators.inference import wild_bootstrap as wbmod
from fiproxy.estimators.inference.wild_bootstrap import (
    BootstrapWarning,
    WildBootstrapTest,
    bootstrap_pvalue,
    wild_bootstrap,
    wild_cluster_bootstrap,
)
from fiproxy.estimators.twfe import twfe


# ---------------------------------------------------------------------------- data
def panel(G: int = 10, T: int = 8, seed: int = 3, beta: float = 0.2) -> pd.DataFrame:
    """Clustered panel with unit and year shocks."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"g": np.repeat(np.arange(G), T), "year": np.tile(np.arange(2010, 2010 + T), G)})
    n = len(df)
    df["x1"] = rng.normal(size=n) + 0.3 * rng.normal(size=G)[df.g]
    df["x2"] = rng.normal(size=n)
    df["w"] = rng.uniform(0.5, 2.0, size=n)
    df["y"] = (beta * df.x1 + 0.5 * df.x2 + rng.normal(size=G)[df.g]
               + 0.3 * rng.normal(size=T)[df.year - 2010] + rng.normal(size=n) * (1 + 0.5 * rng.normal(size=G)[df.g] ** 2))
    return df


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


# ---------------------------------------------------------------------------- direct reference
def crv_se(Z, u, A, R, cl_codes, k_dof, cluster_df="min"):
    """Multiway CRV1 standard error of R·β computed from scratch."""
    n = Z.shape[0]
    m = cl_codes.shape[1]
    Gs = [len(np.unique(cl_codes[:, j])) for j in range(m)]
    import itertools
    V = 0.0
    for size in range(1, m + 1):
        for sub in itertools.combinations(range(m), size):
            key = pd.MultiIndex.from_arrays([cl_codes[:, j] for j in sub]).factorize()[0] if size > 1 else cl_codes[:, sub[0]]
            H = key.max() + 1
            Gt = min(Gs) if cluster_df == "min" else H
            S = np.zeros((H, Z.shape[1]))
            np.add.at(S, key, Z * u[:, None])
            V = V + (1 if size % 2 else -1) * Gt / (Gt - 1) * (n - 1) / (n - k_dof) * (R @ A @ S.T @ S @ A @ R)
    return np.sqrt(V)


@np.errstate(invalid="ignore")
def direct_bootstrap(Z, y, cl_codes, boot, R, r, V, impose_null, k_dof, w=None, cluster_df="min"):
    """Refit OLS for every draw: t and t* (slow, obviously correct)."""
    if w is not None:
        Z, y = Z * np.sqrt(w)[:, None], y * np.sqrt(w)
    A = np.linalg.inv(Z.T @ Z)
    b = A @ Z.T @ y
    u = y - Z @ b
    t = (R @ b - r) / crv_se(Z, u, A, R, cl_codes, k_dof, cluster_df)
    bt = b - A @ R * (R @ b - r) / (R @ A @ R) if impose_null else b
    ut = y - Z @ bt
    center = r if impose_null else R @ b
    tb = np.empty(len(V))
    for i, v in enumerate(V):
        ys = Z @ bt + ut * v[boot]
        bs = A @ Z.T @ ys
        tb[i] = (R @ bs - center) / crv_se(Z, ys - Z @ bs, A, R, cl_codes, k_dof, cluster_df)
    return t, tb


def codes(*cols):
    return np.column_stack([pd.factorize(c, sort=True)[0] for c in cols])


# ---------------------------------------------------------------------------- weights
@pytest.mark.parametrize("kind", ["rademacher", "webb", "mammen", "normal"])
def test_weight_moments(kind):
    V = bw.draw_weights(kind, 50, 4000, np.random.default_rng(0))
    assert V.shape == (4000, 50)
    assert abs(V.mean()) < 0.01 and abs(V.var() - 1) < 0.01  # 200k draws: SE ≈ 0.0022 / 0.003-0.005
    if kind == "webb":
        assert set(np.round(np.unique(V) ** 2, 12)) == {0.5, 1.0, 1.5}


def test_enumeration_rule():
    V, enum = bw.bootstrap_draws("rademacher", 10, 1024, seed=1)
    assert enum and V.shape == (1024, 10) and len(np.unique(V, axis=0)) == 1024
    V, enum = bw.bootstrap_draws("rademacher", 10, 1023, seed=1)
    assert not enum and V.shape == (1023, 10)
    V, enum = bw.bootstrap_draws("webb", 3, 9999, seed=1)
    assert enum and V.shape == (216, 3)
    _, enum = bw.bootstrap_draws("mammen", 3, 9999, seed=1)
    assert not enum
    with pytest.raises(ValueError, match="unknown bootstrap weight type 'gauss'"):
        bw.bootstrap_draws("gauss", 3, 99)
    with pytest.raises(ValueError, match="equally likely"):
        bw.bootstrap_draws("mammen", 3, 99, full_enumeration=True)


def test_n_distinct_many_clusters_no_overflow():
    """m^G is exact while it fits a float and inf beyond (6^397 and 2^1024 overflowed before)."""
    assert bw.n_distinct("webb", 3) == 216.0 and bw.n_distinct("rademacher", 10) == 1024.0
    assert bw.n_distinct("webb", 396) == float(6**396)
    assert bw.n_distinct("rademacher", 1023) == 2.0**1023
    for kind, G in (("webb", 397), ("webb", 400), ("webb", 10**6), ("rademacher", 1024), ("rademacher", 5000)):
        assert bw.n_distinct(kind, G) == np.inf, (kind, G)
    V, enum = bw.bootstrap_draws("webb", 500, 99, seed=1)
    assert not enum and V.shape == (99, 500)
    with pytest.raises(ValueError, match=r"cannot enumerate 6\^500"):
        bw.bootstrap_draws("webb", 500, 99, full_enumeration=True)
    res = twfe("y ~ x1 + x2 | g", panel(G=500, T=2, seed=5), vcov={"CRV1": "g"})
    out = wild_bootstrap(res, "x1", B=99, weights="webb", seed=1, conf_int=False)
    assert out.n_clusters == 500 and 0 <= out.pvalue < 0.05  # |t| = 2.7: rejected, as by CRV1


def test_seed_reproducible_and_chunking(monkeypatch):
    df = panel(G=31, T=5, seed=7)
    res = twfe("y ~ x1 + x2 | g", df, vcov={"CRV1": "g"})
    a = wild_bootstrap(res, "x1", B=999, seed=42, return_draws=True)
    b = wild_bootstrap(res, "x1", B=999, seed=42, return_draws=True)
    c = wild_bootstrap(res, "x1", B=999, seed=43, return_draws=True)
    monkeypatch.setattr(wbmod, "_CHUNK_ELEMENTS", 31 * 7)  # 7 draws per chunk
    d = wild_bootstrap(res, "x1", B=999, seed=42, return_draws=True)
    assert np.array_equal(a.t_boot, b.t_boot) and a.pvalue == b.pvalue and a.conf_int == b.conf_int
    assert not np.array_equal(a.t_boot, c.t_boot)
    np.testing.assert_allclose(d.t_boot, a.t_boot, rtol=1e-12, atol=1e-12)
    assert d.pvalue == a.pvalue


# ---------------------------------------------------------------------------- vs wildboottest / pyfixest
def test_arrays_full_enumeration_match_wildboottest():
    from wildboottest.wildboottest import WildboottestCL

    rng = np.random.default_rng(1)
    n, G = 300, 10
    cl = rng.integers(0, G, n)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    y = X @ [1, 0.1, 0.5] + rng.normal(size=n) + rng.normal(size=G)[cl]
    R = np.array([0, 1.0, 0])
    for null in (True, False):
        ref = WildboottestCL(X=X, Y=y, cluster=cl, R=R, B=2**G + 1, seed=1, parallel=False)
        ref.get_scores(bootstrap_type="11", impose_null=null)
        quiet(ref.get_weights, "rademacher")
        ref.get_numer(); ref.get_denom(); ref.get_tboot(); ref.get_vcov(); ref.get_tstat(); ref.get_pvalue()
        mine = quiet(wild_cluster_bootstrap, X, y, cl, R, B=2**G, impose_null=null, return_draws=True)
        assert mine.full_enumeration and mine.B == 2**G
        assert mine.t_stat == pytest.approx(float(np.ravel(ref.t_stat)[0]), rel=1e-12)
        np.testing.assert_allclose(np.sort(mine.t_boot), np.sort(ref.t_boot.ravel()), atol=1e-10)
        assert mine.pvalue == bootstrap_pvalue(float(np.ravel(ref.t_stat)[0]), ref.t_boot.ravel())
        if not null:
            assert mine.pvalue == pytest.approx(ref.pvalue, abs=1e-15)


@pytest.mark.parametrize("fml", ["y ~ x1 + x2 | g + year", "y ~ x1 + x2 | year", "y ~ x1 + x2"])
@pytest.mark.parametrize("impose_null", [True, False])
def test_full_enumeration_matches_pyfixest(fml, impose_null):
    import pyfixest as pf

    G = 10
    df = panel(G=G)
    res = twfe(fml, df, vcov={"CRV1": "g"})
    fit = pf.feols(fml, df, vcov={"CRV1": "g"})
    ref, ref_draws = quiet(fit.wildboottest, param="x1", reps=2**G + 1, seed=1, impose_null=impose_null,
                           return_bootstrapped_t_stats=True)
    mine = quiet(wild_bootstrap, res, "x1", B=2**G, impose_null=impose_null, return_draws=True)
    # the reported t is the result's t (fixest small-sample convention), = pyfixest feols
    assert mine.t_stat == pytest.approx(res.tstat["x1"], rel=1e-10)
    assert mine.t_stat == pytest.approx(fit.tstat()["x1"], rel=1e-8)
    # draws equal up to pyfixest's one-hot K in the CRV1 factor (a common scale)
    scale = mine.t_stat / float(ref["t value"])
    np.testing.assert_allclose(np.sort(mine.t_boot), np.sort(np.ravel(ref_draws)) * scale, atol=1e-9)
    p_ref = float(ref["Pr(>|t|)"])
    if impose_null:
        assert p_ref - 1e-12 <= mine.pvalue <= p_ref + 2 / 2**G + 1e-12
        assert mine.pvalue == bootstrap_pvalue(float(ref["t value"]), np.ravel(ref_draws))
    else:
        assert mine.pvalue == p_ref


def test_random_draws_match_pyfixest_within_mc_error():
    import pyfixest as pf

    df = panel(G=31, T=13, seed=11, beta=0.1)
    fml = "y ~ x1 + x2 | g + year"
    res = twfe(fml, df, vcov={"CRV1": "g"})
    fit = pf.feols(fml, df, vcov={"CRV1": "g"})
    for kind in ("rademacher", "webb"):
        ref = fit.wildboottest(param="x1", reps=9999, seed=5, weights_type=kind)
        mine = wild_bootstrap(res, "x1", B=9999, seed=6, weights=kind)
        assert not mine.full_enumeration
        assert abs(mine.pvalue - float(ref["Pr(>|t|)"])) < 0.02
    assert 0.05 < mine.pvalue < 0.95  # the comparison is not at a boundary


# ---------------------------------------------------------------------------- vs direct implementation
@pytest.mark.parametrize("impose_null", [True, False])
@pytest.mark.parametrize("kind", ["webb", "mammen"])
def test_twoway_weighted_fe_match_direct_refit(impose_null, kind):
    """Two-way clustering, WLS, FE not nested in the bootstrap clusters, r != 0:
    the fast algebra equals refitting the full dummy regression for every draw."""
    df = panel(G=12, T=9, seed=21)
    res = twfe("y ~ x1 + x2 | g + year", df, vcov={"CRV1": "g+year"}, weights="w")
    out = wild_bootstrap(res, "x1", r=0.1, B=200, seed=3, weights=kind, impose_null=impose_null,
                         bootcluster="year", return_draws=True, conf_int=False)
    # full dummy design: x1, x2, g dummies, year dummies (one dropped)
    Z = np.column_stack([df.x1, df.x2, pd.get_dummies(df.g).to_numpy(float),
                         pd.get_dummies(df.year).to_numpy(float)[:, 1:]])
    K = 2 + 12 + 9 - 1
    # fixest K: g and year are each nested in a cluster variable and count once
    k_dof = K - 12 - 9 + 2
    V, _ = bw.bootstrap_draws(kind, 9, 200, seed=3, full_enumeration=False)
    t, tb = direct_bootstrap(Z, df.y.to_numpy(), codes(df.g, df.year), codes(df.year)[:, 0],
                             np.r_[1.0, np.zeros(K - 1)], 0.1, V, impose_null, k_dof, w=df.w.to_numpy())
    assert out.t_stat == pytest.approx(t, rel=1e-8)
    assert out.t_stat == pytest.approx((res.params["x1"] - 0.1) / res.se["x1"], rel=1e-8)
    # inclusion-exclusion can give a negative variance: the direct t* is NaN, ours ±inf (counted as extreme)
    ok = np.isfinite(tb)
    assert ok.mean() > 0.8 and np.array_equal(np.isfinite(out.t_boot), ok)
    np.testing.assert_allclose(out.t_boot[ok], tb[ok], rtol=1e-8, atol=1e-10)
    assert out.bootcluster == "year" and out.n_clusters == 9


def test_linear_combination_and_own_cluster_df_match_direct():
    df = panel(G=14, T=6, seed=8)
    res = twfe("y ~ x1 + x2 | g", df, vcov={"CRV1": "g+year"})
    out = wild_bootstrap(res, {"x1": 1.0, "x2": -1.0}, r=-0.3, B=150, seed=9, cluster_df="own",
                         return_draws=True, conf_int=False)
    assert out.bootcluster == "year"  # fewest clusters (6 < 14)
    assert out.param == "1*x1 + -1*x2"
    Z = np.column_stack([df.x1, df.x2, pd.get_dummies(df.g).to_numpy(float)])
    V, _ = quiet(bw.bootstrap_draws, "rademacher", 6, 150, seed=9)
    # year is the bootcluster: 2^6 = 64 <= 150 -> full enumeration
    assert out.full_enumeration and out.B == 64
    k_dof = 2 + 14 - 14 + 1
    t, tb = direct_bootstrap(Z, df.y.to_numpy(), codes(df.g, df.year), codes(df.year)[:, 0],
                             np.r_[1.0, -1.0, np.zeros(14)], -0.3, V, True, k_dof, cluster_df="own")
    assert out.t_stat == pytest.approx(t, rel=1e-8)
    np.testing.assert_allclose(out.t_boot, tb, rtol=1e-8, atol=1e-10)


def test_array_interface_wls_matches_direct_refit():
    rng = np.random.default_rng(17)
    n, G = 240, 15
    cl = rng.integers(0, G, n)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    w = rng.uniform(0.2, 3.0, n)
    y = X @ [1.0, 0.3, -0.2] + rng.normal(size=G)[cl] + rng.normal(size=n) / np.sqrt(w)
    R = np.array([0.0, 1.0, 1.0])
    out = wild_cluster_bootstrap(X, y, cl, R, r=0.1, obs_weights=w, B=300, seed=4, weights="normal",
                                 return_draws=True, conf_int=False)
    V, _ = bw.bootstrap_draws("normal", G, 300, seed=4)
    t, tb = direct_bootstrap(X, y, codes(cl), codes(cl)[:, 0], R, 0.1, V, True, 3, w=w)
    assert out.t_stat == pytest.approx(t, rel=1e-10)
    np.testing.assert_allclose(out.t_boot, tb, rtol=1e-9)
    assert out.cluster == ("cluster1",) and out.n_clusters == G


# ---------------------------------------------------------------------------- p-values and intervals
def test_pvalue_types():
    tb = np.array([-3.0, -1.0, 0.5, 2.0, 2.5])
    assert bootstrap_pvalue(2.0, tb, "symmetric") == 3 / 5  # |-3|, 2 (tie), 2.5
    assert bootstrap_pvalue(2.0, tb, "upper") == 2 / 5
    assert bootstrap_pvalue(2.0, tb, "lower") == 4 / 5
    assert bootstrap_pvalue(2.0, tb, "equal-tail") == 4 / 5
    with pytest.raises(ValueError, match="unknown p-value type"):
        bootstrap_pvalue(2.0, tb, "two-sided")


@pytest.mark.parametrize("impose_null", [True, False])
def test_confidence_interval_inverts_the_test(impose_null):
    df = panel(G=25, T=6, seed=4)
    res = twfe("y ~ x1 + x2 | g + year", df, vcov={"CRV1": "g"})
    out = wild_bootstrap(res, "x1", B=999, seed=1, impose_null=impose_null, return_draws=True)
    lo, hi = out.conf_int
    assert lo < out.estimate < hi
    width = hi - lo
    for bound, inward in ((lo, 1.0), (hi, -1.0)):
        # the p-value of H0: x1 = bound (recomputed from scratch) is >= 5% just inside, < 5% just outside
        p_in = wild_bootstrap(res, "x1", r=bound + inward * 1e-6 * width, B=999, seed=1,
                              impose_null=impose_null, conf_int=False).pvalue
        p_out = wild_bootstrap(res, "x1", r=bound - inward * 1e-6 * width, B=999, seed=1,
                               impose_null=impose_null, conf_int=False).pvalue
        assert p_in >= 0.05 > p_out
    if not impose_null:  # percentile-t interval: β̂ ± q·se with q the 95% quantile of |t*|
        se = res.se["x1"]
        q = np.sort(np.abs(out.t_boot))
        inside = np.abs(out.estimate - np.array([lo, hi])) / se
        assert np.all(np.mean(q[None, :] >= inside[:, None] - 1e-6, axis=1) >= 0.05)


def test_one_sided_interval_and_to_frame():
    df = panel(G=25, T=6, seed=4)
    res = twfe("y ~ x1 + x2 | g", df, vcov={"CRV1": "g"})
    up = wild_bootstrap(res, "x1", B=499, seed=1, pvalue="upper")
    assert np.isfinite(up.conf_int[0]) and up.conf_int[1] == np.inf
    low = wild_bootstrap(res, "x1", B=499, seed=1, pvalue="lower")
    assert low.conf_int[0] == -np.inf and np.isfinite(low.conf_int[1])
    assert up.pvalue + low.pvalue >= 1.0  # complementary one-sided p-values (ties count in both)
    tab = up.to_frame()
    assert list(tab.index) == ["x1"] and tab.loc["x1", "method"] == "WCR" and tab.loc["x1", "B"] == 499
    assert isinstance(up, WildBootstrapTest) and "Wild cluster bootstrap" in str(up)


# ---------------------------------------------------------------------------- bad input
def test_bad_input():
    df = panel(G=6, T=5)
    res = twfe("y ~ x1 + x2 | year", df, vcov={"CRV1": "g"})
    with pytest.raises(KeyError, match=r"unknown parameter 'x11'.*did you mean 'x1'.*parameters are: x1, x2"):
        wild_bootstrap(res, "x11")
    with pytest.warns(BootstrapWarning, match=r"G=6 bootstrap clusters.*64 distinct draws.*smallest attainable p-value is about 0.0312"):
        out = wild_bootstrap(res, "x1", B=999)
    assert out.full_enumeration and out.smallest_pvalue == pytest.approx(2 / 64) and out.pvalue >= 2 / 64
    one = df.assign(c=1)
    res1 = twfe("y ~ x1 + x2", one, vcov="HC1")
    with pytest.raises(ValueError, match="single cluster"):
        wild_bootstrap(res1, "x1", cluster="c")
    with pytest.raises(ValueError, match="not clustered; pass cluster="):
        wild_bootstrap(res1, "x1")
    with pytest.raises(ValueError, match="single bootstrap cluster"):
        wild_cluster_bootstrap(df[["x1", "x2"]].to_numpy(), df.y.to_numpy(), df.g.to_numpy(), [1.0, 0.0],
                               bootcluster=np.ones(len(df)))
    nan = df.assign(c=df.g.astype(float))
    nan.loc[[3, 7], "c"] = np.nan
    res2 = twfe("y ~ x1 + x2", nan, vcov="iid")
    with pytest.raises(ValueError, match=r"cluster variable 'c' has 2 missing value"):
        wild_bootstrap(res2, "x1", cluster="c")
    with pytest.raises(ValueError, match=r"cluster variable 'cl' has 2 missing value"):
        wild_cluster_bootstrap(nan[["x1", "x2"]].to_numpy(), nan.y.to_numpy(), nan.c.to_numpy(), [1.0, 0.0],
                               cluster_names=["cl"])
    with pytest.raises(ValueError, match="not in the data"):
        wild_bootstrap(res, "x1", cluster="gg")
    with pytest.raises(ValueError, match="unknown bootstrap weight type"):
        wild_bootstrap(res, "x1", weights="rademacer")
    with pytest.raises(ValueError, match="no linear design"):
        from dataclasses import replace
        wild_bootstrap(replace(res, extra={}), "x1")


def test_speed_small_panel():
    """403 rows / 31 clusters / 9,999 draws with CI: far below the 0.1 s target on a quiet machine."""
    import time

    df = panel(G=31, T=13, seed=2)
    res = twfe("y ~ x1 + x2 | g + year", df, vcov={"CRV1": "g"})
    wild_bootstrap(res, "x1", B=999, seed=1)
    t0 = time.perf_counter()
    wild_bootstrap(res, "x1", B=9999, seed=1)
    assert time.perf_counter() - t0 < 0.5  # generous: shared 2-core machine
