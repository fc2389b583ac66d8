"""spatial_panel: ML SAR/SEM/SDM against spreg, Lee–Yu correction, effects, Monte Carlo, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fiproxy.estimators.spatial import spatial_panel
from fiproxy.estimators.spatial_data import UnbalancedPanelError, model_arrays, prepare_spatial_panel
from fiproxy.estimators.spatial_weights import SpatialWeights, WeightsError

from _spatial_sim import random_weights, ring_weights, simulate_sdm

spreg = pytest.importorskip("spreg")
libpysal = pytest.importorskip("libpysal")

T = 13


@pytest.fixture(scope="module")
def W():
    return random_weights()


@pytest.fixture(scope="module")
def panel(W):
    return simulate_sdm(W, seed=0)


def _wl(W):
    w = libpysal.weights.full2W(W.base_matrix(), ids=list(W.ids))
    w.transform = "r"
    return w


def _stacked(df, cols):
    d = df.sort_values(["year", "prov_code"])  # spreg: period-major stacking, units in W order
    return d[cols].to_numpy(dtype=float)


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


# --------------------------------------------------------------------------- reference: spreg
@pytest.mark.parametrize("model,ref_cls,ref_new", [("sar", "Panel_FE_Lag", "ML_LagFE"), ("sem", "Panel_FE_Error", "ML_ErrorFE")])
def test_individual_fe_matches_spreg(W, panel, model, ref_cls, ref_new):
    """Same data and W, unit FE, no bias correction. Tolerances: estimates 1e-5 abs (spreg's Brent search
    stops at xatol=1e-7), SEs 1e-4 relative. Log-likelihood: spreg's deprecated Panel_FE_* concentrates with
    σ² = e'e instead of e'e/NT, so its loglik is ours minus NT/2·log(NT) (checked to 1e-6); spreg's
    ML_LagFE/ML_ErrorFE use e'e/NT and match directly."""
    y, x = _stacked(panel, ["y"]), _stacked(panel, ["x1", "x2"])
    ref = _quiet(getattr(spreg, ref_cls), y, x, _wl(W))
    res = spatial_panel("y ~ x1 + x2", panel, W, model=model, fe="individual", lee_yu=False, effects=False)
    NT = len(y)
    np.testing.assert_allclose(res.params.to_numpy(), ref.betas.ravel(), atol=1e-5)
    np.testing.assert_allclose(res.se.to_numpy(), np.sqrt(np.diag(ref.vm)), rtol=1e-4)
    assert res.stats["loglik"] - float(np.ravel(ref.logll)[0]) == pytest.approx(NT / 2 * np.log(NT), abs=1e-6)
    new = _quiet(getattr(spreg, ref_new), y, x, _wl(W))
    assert res.stats["loglik"] == pytest.approx(float(np.ravel(new.logll)[0]), abs=1e-6)
    assert res.stats["sigma2"] == pytest.approx(float(np.ravel(ref.sig2)[0]), rel=1e-5)


def test_sdm_individual_fe_matches_spreg_lag_with_wx(W, panel):
    """SDM = spatial lag model with [X, WX] as regressors: spreg Panel_FE_Lag on the same design; 1e-5 / 1e-4."""
    Wd = W.dense()
    d = panel.sort_values(["year", "prov_code"]).copy()
    for v in ("x1", "x2"):
        d["W_" + v] = np.concatenate([Wd @ g[v].to_numpy() for _, g in d.groupby("year", sort=True)])
    ref = _quiet(spreg.Panel_FE_Lag, d[["y"]].to_numpy(), d[["x1", "x2", "W_x1", "W_x2"]].to_numpy(), _wl(W))
    res = spatial_panel("y ~ x1 + x2", panel, W, model="sdm", fe="individual", lee_yu=False, effects=False)
    assert list(res.params.index) == ["x1", "x2", "W*x1", "W*x2", "rho"]
    np.testing.assert_allclose(res.params.to_numpy(), ref.betas.ravel(), atol=1e-5)
    np.testing.assert_allclose(res.se.to_numpy(), np.sqrt(np.diag(ref.vm)), rtol=1e-4)


@pytest.mark.parametrize("model,ref_cls", [("sar", "Panel_FE_Lag"), ("sem", "Panel_FE_Error")])
def test_twoway_direct_approach_matches_spreg_on_doubly_stochastic_w(model, ref_cls):
    """With a doubly stochastic W (ring) the spatial lag of time-demeaned data has zero period means, so spreg's
    unit-FE estimator applied to two-way-demeaned data is exactly the two-way direct approach. 1e-5 / 1e-4."""
    W = ring_weights(31)
    df = simulate_sdm(W, rho=0.3, seed=5)
    p = prepare_spatial_panel(df, "y ~ x1 + x2", W, unit="prov_code", time="year", fe="twoway")
    a = model_arrays(p)
    wl = libpysal.weights.full2W(W.base_matrix(), ids=list(W.ids))
    wl.transform = "r"
    ref = _quiet(getattr(spreg, ref_cls), a["y"][:, None], a["Z"], wl)
    res = spatial_panel("y ~ x1 + x2", df, W, model=model, fe="twoway", lee_yu=False, effects=False)
    np.testing.assert_allclose(res.params.to_numpy(), ref.betas.ravel(), atol=1e-5)
    np.testing.assert_allclose(res.se.to_numpy(), np.sqrt(np.diag(ref.vm)), rtol=1e-4)


def test_pooled_model_matches_spreg_ml_lag(W, panel):
    """fe='none' (with constant) = cross-sectional ML lag on the stacked data with W_NT = I_T ⊗ W (spreg ML_Lag)."""
    y, x = _stacked(panel, ["y"]), _stacked(panel, ["x1", "x2"])
    wl = libpysal.weights.full2W(np.kron(np.eye(T), W.base_matrix()), silence_warnings=True)  # T components by design
    wl.transform = "r"
    ref = _quiet(spreg.ML_Lag, y, x, wl, method="full")
    res = spatial_panel("y ~ x1 + x2", panel, W, model="sar", fe="none", effects=False)
    assert list(res.params.index) == ["const", "x1", "x2", "rho"]
    np.testing.assert_allclose(res.params.to_numpy(), ref.betas.ravel(), atol=1e-5)
    assert res.stats["loglik"] == pytest.approx(float(ref.logll), abs=1e-5)


# --------------------------------------------------------------------------- Lee–Yu correction
def _info_lag_kron(Z, b, rho, s2, Wd, T):
    """Elhorst's (2014) information matrix with explicit Kronecker products (independent implementation)."""
    N = Wd.shape[0]
    Wt = Wd @ np.linalg.inv(np.eye(N) - rho * Wd)
    WT = np.kron(np.eye(T), Wt)
    g = WT @ Z @ b
    k = Z.shape[1]
    I = np.zeros((k + 2, k + 2))
    I[:k, :k] = Z.T @ Z / s2
    I[:k, k] = I[k, :k] = Z.T @ g / s2
    I[k, k] = T * np.trace(Wt @ Wt + Wt.T @ Wt) + g @ g / s2
    I[k, k + 1] = I[k + 1, k] = T * np.trace(Wt) / s2
    I[k + 1, k + 1] = N * T / (2 * s2**2)
    return I


def test_lee_yu_twoway_correction_formula(W, panel):
    """θ_c = θ + T·I(θ)^-1 (0, 1/(1-ρ), 1/(2σ²)), then σ² × T/(T-1) (Lee & Yu 2010; Elhorst 2014); 1e-8."""
    raw = spatial_panel("y ~ x1 + x2", panel, W, model="sdm", fe="twoway", lee_yu=False, effects=False)
    bc = spatial_panel("y ~ x1 + x2", panel, W, model="sdm", fe="twoway", lee_yu=True, effects=False)
    a = model_arrays(prepare_spatial_panel(panel, "y ~ x1 + x2", W, unit="prov_code", time="year", fe="twoway"), (0, 1))
    k = a["Z"].shape[1]
    theta = np.concatenate([raw.params.to_numpy(), [raw.stats["sigma2"]]])
    info = _info_lag_kron(a["Z"], theta[:k], theta[k], theta[k + 1], W.dense(), T)
    vec = np.zeros(k + 2)
    vec[k], vec[k + 1] = 1 / (1 - theta[k]), 1 / (2 * theta[k + 1])
    corrected = theta + T * np.linalg.solve(info, vec)
    corrected[k + 1] *= T / (T - 1)
    np.testing.assert_allclose(bc.params.to_numpy(), corrected[:k + 1], rtol=1e-8, atol=1e-10)
    assert bc.stats["sigma2"] == pytest.approx(corrected[k + 1], rel=1e-8)
    assert bc.params["rho"] > raw.params["rho"]  # the direct approach under-estimates ρ with period effects
    info_c = _info_lag_kron(a["Z"], corrected[:k], corrected[k], corrected[k + 1], W.dense(), T)
    np.testing.assert_allclose(bc.extra["vcov_full"].to_numpy(), np.linalg.inv(info_c), rtol=1e-7, atol=1e-12)
    assert bc.stats["loglik"] == raw.stats["loglik"] and bc.stats["lee_yu"] and not raw.stats["lee_yu"]


def test_lee_yu_individual_only_rescales_sigma2(W, panel):
    raw = spatial_panel("y ~ x1 + x2", panel, W, model="sem", fe="individual", lee_yu=False, effects=False)
    bc = spatial_panel("y ~ x1 + x2", panel, W, model="sem", fe="individual", lee_yu=True, effects=False)
    pd.testing.assert_series_equal(raw.params, bc.params)
    assert bc.stats["sigma2"] == pytest.approx(raw.stats["sigma2"] * T / (T - 1), rel=1e-12)


# --------------------------------------------------------------------------- effects
def _effects_dense(beta, theta, rho, Wd):
    """LeSage & Pace (2009) summary measures from S_k = (I - ρW)^-1 (β_k I + θ_k W) by dense inversion."""
    N = Wd.shape[0]
    A = np.linalg.inv(np.eye(N) - rho * Wd)
    out = []
    for b, t in zip(beta, theta):
        S = A @ (b * np.eye(N) + t * Wd)
        direct, total = np.trace(S) / N, S.sum() / N
        out.append([direct, total - direct, total])
    return np.array(out)


@pytest.mark.parametrize("wkind", ["inverse_distance", "knn"])
def test_effects_match_lesage_pace_formulas(panel, wkind):
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(20, 45, 31), rng.uniform(90, 125, 31)
    W = SpatialWeights.from_coordinates(lat, lon, list(range(11, 42)), kind=wkind, k=4, cutoff_km=1500)
    for model in ("sdm", "sar"):
        res = spatial_panel("y ~ x1 + x2", panel, W, model=model, draws=0)
        p = res.params
        theta = [p.get("W*x1", 0.0), p.get("W*x2", 0.0)]
        ref = _effects_dense([p["x1"], p["x2"]], theta, p["rho"], W.dense())
        got = res.extra["effects"]["estimate"].to_numpy().reshape(2, 3)
        # symmetric-similar W: eigen route exact to 1e-10; asymmetric kNN (general eig): 1e-7
        np.testing.assert_allclose(got, ref, rtol=1e-7 if wkind == "knn" else 1e-10, atol=1e-10)


def test_effect_standard_errors_use_full_covariance(W, panel):
    """Delta-method SEs equal a numerical-gradient delta method with the full covariance of (β, θ, ρ) (rel. 1e-5),
    differ from a diagonal-only computation, and agree with simulated SEs (5000 draws) within 10%."""
    res = spatial_panel("y ~ x1 + x2", panel, W, model="sdm", draws=5000, seed=1)
    p = res.params.to_numpy()
    V = res.vcov.to_numpy()
    Wd = W.dense()

    def f(q):
        return _effects_dense(q[:2], q[2:4], q[4], Wd).ravel()

    h = 1e-6
    G = np.array([(f(p + h * e) - f(p - h * e)) / (2 * h) for e in np.eye(len(p))]).T
    se_num = np.sqrt(np.einsum("ep,pq,eq->e", G, V, G))
    se_delta = res.extra["effects_delta"]["se"].to_numpy()
    np.testing.assert_allclose(se_delta, se_num, rtol=1e-5)
    se_diag = np.sqrt(np.einsum("ep,p,ep->e", G, np.diag(V), G))
    assert np.max(np.abs(se_diag / se_delta - 1)) > 0.05  # covariances matter for these effects
    se_sim = res.extra["effects_simulation"]["se"].to_numpy()
    np.testing.assert_allclose(se_sim, se_delta, rtol=0.10)
    tab = res.extra["effects"]
    assert list(tab.columns) == ["estimate", "se", "z", "p", "ci_lower", "ci_upper"]
    assert (tab["ci_lower"] < tab["estimate"]).all() and (tab["estimate"] < tab["ci_upper"]).all()
    assert res.stats["effects_draws"] == 5000


def test_sem_effects_and_result_fields(W, panel):
    res = spatial_panel("y ~ x1 + x2 | prov_code + year", panel, W, model="sem")
    assert res.model == "spatial-sem" and res.stats["fe"] == "twoway" and "lambda" in res.params
    eff = res.extra["effects"]
    np.testing.assert_allclose(eff.xs("direct", level="effect")["estimate"], res.params[["x1", "x2"]])
    assert (eff.xs("indirect", level="effect")["estimate"] == 0).all()
    for key in ("loglik", "sigma2", "aic", "bic", "N", "T", "lee_yu"):
        assert key in res.stats
    assert res.nobs == 31 * T and res.df_t is None
    assert res.to_frame().shape == (3, 6)


def test_partial_durbin(W, panel):
    res = spatial_panel("y ~ x1 + x2", panel, W, model="sdm", durbin=["x2"], draws=0)
    assert list(res.params.index) == ["x1", "x2", "W*x2", "rho"]
    p = res.params
    ref = _effects_dense([p["x1"], p["x2"]], [0.0, p["W*x2"]], p["rho"], W.dense())
    np.testing.assert_allclose(res.extra["effects"]["estimate"].to_numpy().reshape(2, 3), ref, rtol=1e-10)


# --------------------------------------------------------------------------- Monte Carlo
def _coverage(R: int, seed: int):
    """SDM, two-way FE, 31-province queen W, T = 13, ρ = 0.4, β = 1, θ = 0.5; returns coverage of the 95%
    indirect-effect intervals (delta, simulation) and mean ρ with and without the Lee–Yu correction."""
    pytest.importorskip("fiproxy.data.registry", reason="province registry not available")
    W = SpatialWeights.from_registry("queen")
    Wd = W.dense()
    rho, beta, theta = 0.4, 1.0, 0.5
    true_ind = _effects_dense([beta], [theta], rho, Wd)[0, 1]
    hits = np.zeros(2)
    rho_bc, rho_raw = [], []
    for r in range(R):
        df = simulate_sdm(W, T=T, rho=rho, beta=(beta,), theta=(theta,), sigma=1.0, seed=seed + r)
        res = spatial_panel("y ~ x1", df, W, model="sdm", fe="twoway", draws=400, seed=r)
        for j, key in enumerate(("effects_delta", "effects_simulation")):
            e = res.extra[key].loc[("x1", "indirect")]
            hits[j] += e["ci_lower"] <= true_ind <= e["ci_upper"]
        rho_bc.append(res.params["rho"])
        rho_raw.append(spatial_panel("y ~ x1", df, W, model="sdm", fe="twoway", lee_yu=False, effects=False).params["rho"])
    return hits / R, np.mean(rho_bc), np.mean(rho_raw)


def test_monte_carlo_indirect_effect_coverage_fast():
    """R = 30: coverage within [0.80, 1.00] (binomial sd at 0.95 ≈ 0.04); Lee–Yu moves mean ρ towards 0.4."""
    cov, rho_bc, rho_raw = _coverage(30, seed=1000)
    assert np.all((cov >= 0.80) & (cov <= 1.0)), cov
    assert abs(rho_bc - 0.4) < abs(rho_raw - 0.4)


@pytest.mark.slow
def test_monte_carlo_indirect_effect_coverage():
    """R = 200: coverage of both intervals within [0.90, 0.98]; corrected mean ρ within 0.04 of 0.4."""
    cov, rho_bc, rho_raw = _coverage(200, seed=5000)
    assert np.all((cov >= 0.90) & (cov <= 0.98)), cov
    assert abs(rho_bc - 0.4) < 0.04 and abs(rho_bc - 0.4) < abs(rho_raw - 0.4)


# --------------------------------------------------------------------------- bad input
def test_weights_units_mismatch(W, panel):
    other = SpatialWeights.from_coordinates(*np.random.default_rng(3).uniform(20, 45, (2, 31)) + [[0], [80]],
                                            list(range(12, 43)))
    with pytest.raises(WeightsError, match=r"unit\(s\) in the data have no row in W: \[11\].*not in the data: \[42\]"):
        spatial_panel("y ~ x1", panel, other)


def test_unbalanced_panel_names_units_and_years(W, panel):
    gap = panel.drop(index=panel.index[(panel.prov_code == 12) & panel.year.isin([2012, 2015])])
    with pytest.raises(UnbalancedPanelError, match=r"12: \[2012, 2015\]"):
        spatial_panel("y ~ x1", gap, W)
    nan = panel.copy()
    nan.loc[(nan.prov_code == 20) & (nan.year == 2020), "x2"] = np.nan
    with pytest.raises(UnbalancedPanelError, match=r"20: \[2020\]"):
        spatial_panel("y ~ x1 + x2", nan, W)


def test_other_bad_input(W, panel):
    with pytest.raises(KeyError, match=r"'x3' not found.*did you mean"):
        spatial_panel("y ~ x3", panel, W)
    with pytest.raises(ValueError, match="share a"):
        spatial_panel("y ~ x1", pd.concat([panel, panel.head(1)]), W)
    raw = SpatialWeights(W.base_matrix(), W.ids)
    with pytest.raises(ValueError, match="row-standardized"):
        spatial_panel("y ~ x1", panel, raw, fe="twoway")
    const = panel.assign(c=panel.prov_code * 1.0)
    with pytest.raises(ValueError, match="'c' has no variation left"):
        spatial_panel("y ~ x1 + c", const, W, fe="individual")
    coll = panel.assign(x3=2 * panel.x1 - panel.x2)
    with pytest.raises(ValueError, match="collinear"):
        spatial_panel("y ~ x1 + x2 + x3", coll, W)
    with pytest.raises(ValueError, match="durbin variables"):
        spatial_panel("y ~ x1", panel, W, durbin=["x2"])
    with pytest.raises(ValueError, match="sdm' only"):
        spatial_panel("y ~ x1", panel, W, model="sar", durbin=["x1"])
    with pytest.raises(ValueError, match="model must be"):
        spatial_panel("y ~ x1", panel, W, model="sac")
    with pytest.raises(ValueError, match="implies fe='individual'"):
        spatial_panel("y ~ x1 | prov_code", panel, W, fe="twoway")
    with pytest.raises(ValueError, match="unit .* and/or time"):
        spatial_panel("y ~ x1 | region", panel, W)
    with pytest.raises(ValueError, match="plain column name"):
        spatial_panel("y ~ log(x1)", panel, W)


# --------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_pku_province_index_is_spatially_clustered(shared_data):
    """Guo et al. (2020) report strong spatial clustering of the PKU-DFIIC across provinces: pooled Moran's I of
    log(index) (centred by year) on queen contiguity is positive with the smallest attainable pseudo p-value."""
    pytest.importorskip("fiproxy.data.registry", reason="province registry not available")
    from fiproxy.estimators.spatial_tests import morans_i

    df = pd.read_csv(shared_data / "pku_dfiic" / "pku_dfiic_province_2011_2023.csv")
    df["ln_index"] = np.log(df["index_aggregate"])
    df["ln_digit"] = np.log(df["digitization_level"])
    W = SpatialWeights.from_registry("queen")
    m = morans_i(df, "ln_index", W, permutations=999, seed=0)
    assert m.loc["pooled", "I"] > 0.2 and m.loc["pooled", "p_perm"] == pytest.approx(2 / 1000)
    res = spatial_panel("ln_index ~ ln_digit", df, W, model="sdm", fe="twoway", draws=200)
    assert np.isfinite(res.params).all() and -1 < res.params["rho"] < 1


def test_old_argument_order_is_refused(W, panel):
    """spatial_panel(data, formula, W) (the order before the formula-first API) raises, not swaps."""
    with pytest.raises(TypeError, match=r"order changed.*call spatial_panel\('y ~ x1', data, W, \.\.\.\)"):
        spatial_panel(panel, "y ~ x1", W, draws=0)


def test_spatial_names_at_top_level():
    import fiproxy
    from fiproxy.estimators import spatial_tests, spatial_weights

    assert fiproxy.SpatialWeights is spatial_weights.SpatialWeights
    assert fiproxy.morans_i is spatial_tests.morans_i
    assert fiproxy.lm_tests is spatial_tests.lm_tests
    assert {"SpatialWeights", "morans_i", "lm_tests"} <= set(dir(fiproxy))
