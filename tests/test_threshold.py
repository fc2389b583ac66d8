"""Tests of fiproxy.threshold (Hansen 1999 fixed-effects panel threshold model).

Reference values
----------------
- Hansen (1999) / Wang (2015) published thresholds on the Hansen data: single
  threshold 0.0157; double threshold 0.0157 and 0.5362 (quoted in
  ../shared/data/hansen1999/SOURCE.md). The single-threshold SSR 17.7817 and the
  exhaustive-grid second threshold 0.5400 (SSR 17.7237) are the values quoted there.
- Hansen's printed bootstrap F statistics, p-values and slope estimates were not
  available as text, so they are not asserted (see docs/threshold.md); slopes and
  standard errors are checked against pyfixest / linearmodels on the same data instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
from linearmodels.panel import PanelOLS

import fiproxy
from fiproxy.estimators.demean import demean, factorize_fe
from fiproxy.estimators.threshold_grid import candidate_grid, lr_critical_value
from fiproxy.estimators.threshold_search import ProfileBase, SortedDesign, ssr_profile

XS = ["tobin_q_lag1", "tobin_q_lag1_sq_div100", "tobin_q_lag1_cu_div1000", "debt_assets_lag1",
      "tobin_q_lag1_x_debt_assets_lag1"]
HANSEN_FORMULA = "invest_assets ~ " + " + ".join(XS) + " | id"
Q, Z = "debt_assets_lag1", "cashflow_assets_lag1"


@pytest.fixture(scope="module")
def hansen(shared_data):
    return pd.read_csv(shared_data / "hansen1999" / "hansen1999.csv")


@pytest.fixture(scope="module")
def hansen_single(hansen):
    return fiproxy.threshold(HANSEN_FORMULA, hansen, q=Q, regime=Z, bootstrap=0)


def simulated_panel(n_units=60, n_periods=6, gamma=0.5, effect=1.0, unbalanced=False, seed=0):
    """Panel with one threshold at ``gamma``: y = mu_i + 0.5 x + z (1 + effect 1(q > gamma)) + e."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    year = np.tile(np.arange(n_periods), n_units)
    mu = rng.normal(size=n_units)[unit]
    q = rng.uniform(size=unit.size)
    x = rng.normal(size=unit.size) + 0.3 * mu
    z = rng.normal(size=unit.size)
    y = mu + 0.5 * x + z * (1 + effect * (q > gamma)) + rng.normal(scale=0.5, size=unit.size)
    df = pd.DataFrame({"id": unit, "year": year, "y": y, "x": x, "z": z, "q": np.round(q, 3)})
    if unbalanced:
        df = df.sample(frac=0.8, random_state=seed).sort_index()
    return df


# --------------------------------------------------------------------------- SSR engine
@pytest.mark.parametrize("delete_last", [False, True])
def test_ssr_profile_equals_refit_per_grid_point(delete_last):
    """The cumulative-sum SSR profile equals one least-squares refit per grid point (1e-10),
    on an unbalanced panel with two regime-dependent regressors and one fixed threshold."""
    rng = np.random.default_rng(3)
    t_i = rng.integers(3, 8, 40)
    unit = np.repeat(np.arange(40), t_i)
    n = unit.size
    kept = np.ones(n, dtype=bool)
    if delete_last:
        kept[np.cumsum(t_i) - 1] = False
    x, z = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    q = np.round(rng.normal(size=n), 1)
    y = rng.normal(size=n) + z[:, 0] * (q <= 0.2)

    def tr(a):
        return demean(a, unit)[0] * (kept[:, None] if a.ndim == 2 else kept)

    grid = np.unique(q)[2:-2]
    design = SortedDesign.build(z, q, unit, grid, kept)
    fixed = tr(z * (q <= 0.0)[:, None])
    base = ProfileBase.build(design, np.hstack([tr(x), tr(z), fixed]))
    ssr, _ = ssr_profile(design, base, tr(y))
    naive = []
    for g in grid:
        W = np.hstack([tr(x), tr(z), fixed, tr(z * (q <= g)[:, None])])
        e = tr(y) - W @ np.linalg.lstsq(W, tr(y), rcond=None)[0]
        naive.append(e @ e)
    naive = np.array(naive)
    assert base.ok.sum() == len(grid) - 1  # g = 0.0 duplicates the fixed threshold
    np.testing.assert_allclose(ssr[base.ok], naive[base.ok], rtol=0, atol=1e-10)


def test_quantile_grid_follows_hansen_construction():
    """Hansen's grid: distinct values d[floor(s D)] (1-based) for s = trim, trim + 1/qn, ..., 1 - trim."""
    q = np.arange(1.0, 1001.0)
    g = candidate_grid(q, 0.01, 400)
    assert len(g) == 393
    assert g[0] == 10.0 and g[1] == 12.0 and g[-1] == 990.0
    # exhaustive grid keeps each regime >= ceil(0.01 N) observations
    a = candidate_grid(q, 0.01, "all")
    assert a[0] == 10.0 and a[-1] == 990.0 and len(a) == 981


def test_lr_critical_value_matches_hansen():
    """c(alpha) = -2 ln(1 - sqrt(1 - alpha)): Hansen (1999) prints 7.35 for 95%."""
    assert lr_critical_value(0.95) == pytest.approx(7.352, abs=1e-3)
    assert lr_critical_value(0.90) == pytest.approx(-2 * np.log(1 - np.sqrt(0.90)), rel=1e-12)


# --------------------------------------------------------------------------- Hansen (1999) data
@pytest.mark.realdata
def test_hansen_single_threshold(hansen_single):
    """Published threshold 0.0157 and SSR 17.7817 (exhaustive grid, within transformation); to 1e-4."""
    r = hansen_single
    assert r.stats["th1"] == pytest.approx(0.0157, abs=1e-4)
    assert r.stats["rss"] == pytest.approx(17.7817, abs=1e-4)
    assert r.extra["thresholds"].loc["Th-1", "ssr"] == pytest.approx(17.7817, abs=1e-4)
    assert r.nobs == 7910 and r.stats["n_units"] == 565 and r.stats["balanced"]
    assert list(r.params.index[-2:]) == [f"{Z}[q<=0.0157]", f"{Z}[q>0.0157]"]


@pytest.mark.realdata
def test_hansen_double_threshold_exhaustive_grid(hansen):
    """Exhaustive grid, within transformation: second threshold 0.5400 (SSR 17.7237), first stays 0.0157."""
    r = fiproxy.threshold(HANSEN_FORMULA, hansen, q=Q, regime=Z, n_thresholds=2, bootstrap=0)
    th = r.extra["thresholds"]
    assert th.loc["Th-22", "threshold"] == pytest.approx(0.5400, abs=1e-4)
    assert th.loc["Th-22", "ssr"] == pytest.approx(17.7237, abs=1e-4)
    assert th.loc["Th-21", "threshold"] == pytest.approx(0.0157, abs=1e-4)


@pytest.mark.realdata
def test_hansen_double_threshold_published_grid(hansen):
    """Hansen's published 0.0157 and 0.5362: his 393-point quantile grid (grid=400, trim 0.01)
    together with his stacking (demean, delete one period per firm)."""
    r = fiproxy.threshold(HANSEN_FORMULA, hansen, q=Q, regime=Z, n_thresholds=2, grid=400,
                          transform="hansen", time="year", bootstrap=0)
    th = r.extra["thresholds"]
    assert r.stats["n_candidates"] == 393
    assert th.loc["Th-1", "threshold"] == pytest.approx(0.0157, abs=1e-4)
    assert th.loc["Th-21", "threshold"] == pytest.approx(0.0157, abs=1e-4)
    assert th.loc["Th-22", "threshold"] == pytest.approx(0.5362, abs=1e-4)
    assert r.nobs == 7910 and r.stats["rows_after_transform"] == 565 * 13
    # the same grid with the within transformation misses it (0.5407), as does the exhaustive grid
    r2 = fiproxy.threshold(HANSEN_FORMULA, hansen, q=Q, regime=Z, n_thresholds=2, grid=400, bootstrap=0)
    assert abs(r2.extra["thresholds"].loc["Th-22", "threshold"] - 0.5362) > 1e-3


@pytest.mark.realdata
@pytest.mark.parametrize("vcov", ["CRV1", "iid"])
def test_hansen_slopes_match_pyfixest(hansen, hansen_single, vcov):
    """Slopes and SEs at the estimated threshold equal pyfixest feols on the regime-split
    regressors with unit fixed effects (CRV1 by firm / iid), relative 1e-8."""
    r = hansen_single if vcov == "CRV1" else hansen_single.vcov_as("iid")
    g = r.stats["thresholds"][0]
    d = hansen.assign(c_lo=hansen[Z] * (hansen[Q] <= g), c_hi=hansen[Z] * (hansen[Q] > g))
    m = pf.feols("invest_assets ~ " + " + ".join(XS) + " + c_lo + c_hi | id", data=d,
                 vcov={"CRV1": "id"} if vcov == "CRV1" else "iid")
    np.testing.assert_allclose(r.params.to_numpy(), m.coef().to_numpy(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(r.se.to_numpy(), m.se().to_numpy(), rtol=1e-8)
    assert r.df_t == (564 if vcov == "CRV1" else 7910 - 565 - 7)


@pytest.mark.realdata
def test_hansen_iid_matches_linearmodels_and_hansen_sigma(hansen, hansen_single):
    """iid SEs equal linearmodels PanelOLS (entity effects, unadjusted) to 1e-8; Hansen's
    sigma^2 = SSR/(N - G) scales them by sqrt((N - G - K)/(N - G))."""
    g = hansen_single.stats["thresholds"][0]
    d = hansen.assign(c_lo=hansen[Z] * (hansen[Q] <= g), c_hi=hansen[Z] * (hansen[Q] > g)).set_index(["id", "year"])
    lm = PanelOLS(d["invest_assets"], d[XS + ["c_lo", "c_hi"]], entity_effects=True).fit(cov_type="unadjusted")
    iid = hansen_single.vcov_as("iid")
    np.testing.assert_allclose(iid.se.to_numpy(), lm.std_errors.to_numpy(), rtol=1e-8)
    h = hansen_single.vcov_as("hansen")
    np.testing.assert_allclose(h.se.to_numpy(), iid.se.to_numpy() * np.sqrt((7910 - 565 - 7) / (7910 - 565)),
                               rtol=1e-12)


@pytest.mark.realdata
def test_hansen_lr_confidence_interval(hansen, hansen_single):
    """LR(g) = (S(g) - S(g_hat)) / (S(g_hat)/(N - G)); the bounds are the extreme grid points with
    LR <= 7.35. Checked at the bounds and just outside them with independent refits."""
    r = hansen_single
    prof = r.extra["lr_profiles"]["Th-1"]
    lo, hi = r.stats["th1_lower"], r.stats["th1_upper"]
    assert lo <= r.stats["th1"] <= hi
    inside = prof["lr"] <= r.stats["lr_crit"]
    assert prof.loc[inside, "gamma"].min() == lo and prof.loc[inside, "gamma"].max() == hi
    unit = factorize_fe(hansen["id"])
    y = demean(hansen["invest_assets"].to_numpy(), unit)[0]
    X = demean(hansen[XS + [Z]].to_numpy(), unit)[0]
    sigma2 = r.stats["rss"] / (7910 - 565)
    grid = prof["gamma"].to_numpy()
    for g in (lo, hi, grid[np.searchsorted(grid, lo) - 1], grid[np.searchsorted(grid, hi) + 1]):
        W = np.hstack([X, demean(hansen[Z].to_numpy() * (hansen[Q].to_numpy() <= g), unit)[0][:, None]])
        e = y - W @ np.linalg.lstsq(W, y, rcond=None)[0]
        lr = (e @ e - r.stats["rss"]) / sigma2
        assert lr == pytest.approx(prof.loc[prof["gamma"] == g, "lr"].iloc[0], abs=1e-6)
        assert (lr <= 7.3523) == (lo <= g <= hi)


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_reproducible_and_independent_of_n_jobs():
    """Same seed -> identical draws for n_jobs=1 and 2; another seed -> other draws."""
    df = simulated_panel(n_units=40, n_periods=5, effect=0.6)
    kw = dict(q="q", regime="z", n_thresholds=2, bootstrap=[24, 24], seed=11)
    a = fiproxy.threshold("y ~ x | id", df, n_jobs=1, **kw)
    b = fiproxy.threshold("y ~ x | id", df, n_jobs=2, **kw)
    c = fiproxy.threshold("y ~ x | id", df, n_jobs=1, **{**kw, "seed": 12})
    for test in ("single", "double"):
        np.testing.assert_array_equal(a.extra["bootstrap_F"][test], b.extra["bootstrap_F"][test])
        assert not np.array_equal(a.extra["bootstrap_F"][test], c.extra["bootstrap_F"][test])
    t = a.extra["tests"]
    draws = a.extra["bootstrap_F"]["single"]
    assert t.loc["single", "p"] == pytest.approx(np.mean(draws > t.loc["single", "F"]))
    assert t.loc["single", "crit5"] == np.sort(draws)[int(np.ceil(0.95 * 24)) - 1]
    assert a.stats["F1_pvalue"] == t.loc["single", "p"]


def test_bootstrap_detects_strong_threshold_and_wild_scheme_runs():
    df = simulated_panel(n_units=50, n_periods=5, effect=1.0, unbalanced=True, seed=4)
    for scheme in ("residual", "wild"):
        r = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", bootstrap=49, seed=1,
                              bootstrap_scheme=scheme, time="year")
        assert r.stats["F1_pvalue"] == 0.0
        assert r.stats["F1"] > r.stats["F1_crit1"]


def test_f_statistic_definition():
    """F1 = (S0 - S1) / (S1 / (N - G)) with S0 the SSR of the linear fixed-effects model."""
    df = simulated_panel(seed=5)
    r = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", bootstrap=0)
    lin = pf.feols("y ~ x + z | id", data=df)
    s0 = float(np.sum(lin.resid() ** 2))
    assert r.stats["ssr_linear"] == pytest.approx(s0, rel=1e-10)
    assert r.stats["F1"] == pytest.approx((s0 - r.stats["rss"]) / (r.stats["rss"] / (len(df) - 60)), rel=1e-10)


# --------------------------------------------------------------------------- unbalanced panels
def test_unbalanced_slopes_match_pyfixest():
    """Unbalanced panel: estimates at the estimated threshold equal pyfixest's within estimator (1e-8),
    and the estimated threshold minimizes the SSR of such refits over the grid."""
    df = simulated_panel(n_units=50, n_periods=6, unbalanced=True, seed=7)
    r = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", bootstrap=0, time="year")
    assert not r.stats["balanced"]
    g = r.stats["thresholds"][0]
    d = df.assign(z_lo=df.z * (df.q <= g), z_hi=df.z * (df.q > g))
    m = pf.feols("y ~ x + z_lo + z_hi | id", data=d, vcov={"CRV1": "id"})
    np.testing.assert_allclose(r.params.to_numpy(), m.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(r.se.to_numpy(), m.se().to_numpy(), rtol=1e-8)
    prof = r.extra["lr_profiles"]["Th-1"]
    for gg in prof["gamma"].to_numpy()[::25]:
        dd = df.assign(z_lo=df.z * (df.q <= gg), z_hi=df.z * (df.q > gg))
        s = float(np.sum(pf.feols("y ~ x + z_lo + z_hi | id", data=dd).resid() ** 2))
        assert s == pytest.approx(prof.loc[prof["gamma"] == gg, "ssr"].iloc[0], rel=1e-9)
        assert s >= r.stats["rss"] - 1e-12


def test_cluster_other_than_unit_matches_pyfixest():
    df = simulated_panel(seed=8)
    r = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", bootstrap=0, vcov={"CRV1": "year"}, cluster="year")
    g = r.stats["thresholds"][0]
    d = df.assign(z_lo=df.z * (df.q <= g), z_hi=df.z * (df.q > g))
    m = pf.feols("y ~ x + z_lo + z_hi | id", data=d, vcov={"CRV1": "year"})
    np.testing.assert_allclose(r.se.to_numpy(), m.se().to_numpy(), rtol=1e-8)


# --------------------------------------------------------------------------- results API
def test_result_tables_and_names():
    df = simulated_panel(seed=9, effect=0.8)
    r = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", n_thresholds=2, bootstrap=[19, 0], seed=2)
    assert r.model == "threshold"
    assert list(r.extra["tests"].index) == ["single", "double"]
    assert np.isnan(r.extra["tests"].loc["double", "p"]) and r.extra["tests"].loc["double", "B"] == 0
    assert list(r.extra["thresholds"].index) == ["Th-1", "Th-21", "Th-22"]
    assert set(r.extra["lr_profiles"]) == {"Th-1", "Th-21", "Th-22"}
    g1, g2 = r.stats["thresholds"]
    assert g1 < g2
    assert r.params.index[1:].tolist() == [f"z[q<={g1:.6g}]", f"z[{g1:.6g}<q<={g2:.6g}]", f"z[q>{g2:.6g}]"]
    assert "F1" in r.summary()


# --------------------------------------------------------------------------- bad input
def test_too_few_distinct_values_for_trimming():
    df = simulated_panel(seed=1)
    df["q"] = (df["q"] > 0.99).astype(float)  # two values, the upper one holds ~1% of rows
    with pytest.raises(ValueError, match="distinct values.*no candidate threshold"):
        fiproxy.threshold("y ~ x | id", df, q="q", regime="z", trim=0.05, bootstrap=0)


def test_few_candidates_warns():
    df = simulated_panel(seed=1)
    df["q"] = np.round(df["q"] * 4) / 4  # five distinct values
    r = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", bootstrap=0)
    assert any("only" in w and "candidate thresholds" in w for w in r.warnings)


def test_too_many_thresholds_for_the_data():
    df = simulated_panel(seed=1)
    df["q"] = np.round(df["q"] * 2) / 2  # three distinct values -> at most two thresholds
    with pytest.raises(ValueError, match="cannot estimate 3 thresholds"):
        fiproxy.threshold("y ~ x | id", df, q="q", regime="z", n_thresholds=3, bootstrap=0)
    with pytest.raises(ValueError, match="n_thresholds must be 1, 2 or 3"):
        fiproxy.threshold("y ~ x | id", df, q="q", regime="z", n_thresholds=4)


@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(formula="y ~ xx | id"), KeyError, "did you mean"),
    (dict(formula="y ~ x"), ValueError, "panel unit after"),
    (dict(formula="y ~ x | id + year"), ValueError, "exactly one fixed effect"),
    (dict(formula="y ~ x + z | id"), ValueError, "both as regime-independent"),
    (dict(trim=0.6), ValueError, "trim must be in"),
    (dict(trim=[0.01, 0.02]), ValueError, "one value per threshold"),
    (dict(grid="some"), ValueError, "grid must be"),
    (dict(transform="hansen"), ValueError, "pass time="),
    (dict(vcov="HC9"), ValueError, "vcov must be"),
    (dict(bootstrap_scheme="pairs", bootstrap=5), ValueError, "bootstrap scheme"),
])
def test_bad_arguments(kwargs, exc, pattern):
    df = simulated_panel(seed=1)
    args = dict(formula="y ~ x | id", q="q", regime="z", bootstrap=0) | kwargs
    formula = args.pop("formula")
    with pytest.raises(exc, match=pattern):
        fiproxy.threshold(formula, df, **args)


def test_old_argument_order_is_refused():
    """threshold(data, formula) (the order before the formula-first API) raises, not swaps."""
    df = simulated_panel(seed=1)
    with pytest.raises(TypeError, match=r"order changed.*call threshold\('y ~ x \| id', data, \.\.\.\)"):
        fiproxy.threshold(df, "y ~ x | id", q="q", regime="z", bootstrap=0)


def test_bad_data():
    df = simulated_panel(seed=1)
    with pytest.raises(ValueError, match="missing values"):
        fiproxy.threshold("y ~ x | id", df.assign(q=df.q.where(df.index != 3)), q="q", regime="z", bootstrap=0)
    with pytest.raises(ValueError, match="does not vary within units"):
        fiproxy.threshold("y ~ x | id", df.assign(x=df.id * 1.0), q="q", regime="z", bootstrap=0)
    with pytest.raises(ValueError, match="duplicate"):
        fiproxy.threshold("y ~ x | id", pd.concat([df, df.iloc[:1]]), q="q", regime="z", time="year", bootstrap=0)
    short = pd.concat([df, pd.DataFrame({"id": [999], "year": [0], "y": [0.0], "x": [0.0], "z": [0.0], "q": [0.5]})])
    r = fiproxy.threshold("y ~ x | id", short, q="q", regime="z", bootstrap=0)
    assert any("dropped 1 unit" in w for w in r.warnings)


# --------------------------------------------------------------------------- LR profile plot
def test_lr_profile_plot(tmp_path):
    from fiproxy.report.threshold_plot import lr_profile_plot

    df = simulated_panel(seed=9, effect=0.8)
    r = fiproxy.threshold("y ~ x | id", df, q="q", regime="z", n_thresholds=2, bootstrap=0)
    fig = lr_profile_plot(r, tmp_path / "lr.png")
    assert len(fig.axes) == 3 and (tmp_path / "lr.png").stat().st_size > 1000
    line = fig.axes[0].lines[0]
    prof = r.extra["lr_profiles"]["Th-1"]
    np.testing.assert_allclose(line.get_ydata(), prof["lr"].dropna().to_numpy())
    assert fig.axes[0].lines[1].get_ydata()[0] == pytest.approx(lr_critical_value(0.95))
    with pytest.raises(ValueError, match="unknown profile"):
        lr_profile_plot(r, which=["Th-3"])


def test_no_regime_independent_regressors_and_two_regime_regressors():
    """'y ~ 1 | id' and two regime-dependent regressors: slopes equal pyfixest at the estimate."""
    df = simulated_panel(seed=12, effect=1.0).assign(z2=lambda d: np.sin(d.x) + d.q)
    r = fiproxy.threshold("y ~ 1 | id", df, q="q", regime=["z", "z2"], bootstrap=9, seed=3, n_jobs=-1)
    g = r.stats["thresholds"][0]
    assert g == pytest.approx(0.5, abs=0.05)
    d = df.assign(a=df.z * (df.q <= g), b=df.z2 * (df.q <= g), c=df.z * (df.q > g), e=df.z2 * (df.q > g))
    m = pf.feols("y ~ a + b + c + e | id", data=d, vcov={"CRV1": "id"})
    np.testing.assert_allclose(r.params.to_numpy(), m.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(r.se.to_numpy(), m.se().to_numpy(), rtol=1e-8)
    assert r.params.index.tolist()[:2] == [f"z[q<={g:.6g}]", f"z2[q<={g:.6g}]"]
