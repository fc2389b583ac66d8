"""Moran's I and panel LM tests against spreg and independent formulas."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fiproxy.estimators.spatial_data import UnbalancedPanelError, model_arrays, prepare_spatial_panel
from fiproxy.estimators.spatial_tests import lm_tests, morans_i

from _spatial_sim import random_weights, simulate_sdm

spreg = pytest.importorskip("spreg")
libpysal = pytest.importorskip("libpysal")


@pytest.fixture(scope="module")
def W():
    return random_weights()


@pytest.fixture(scope="module")
def panel(W):
    return simulate_sdm(W, rho=0.3, seed=3)


def _libpysal_w(W):
    w = libpysal.weights.full2W(W.base_matrix(), ids=list(W.ids))
    w.transform = "r"
    return w


def test_morans_i_matches_spreg_moranres(W, panel):
    """Moran's I of a centred variable = Moran's I of residuals on a constant (spreg MoranRes): I, E[I], z; 1e-10."""
    from spreg.diagnostics_sp import MoranRes

    out = morans_i(panel, "y", W, permutations=99)
    wl = _libpysal_w(W)
    for year in (2011, 2017, 2023):
        z = panel[panel.year == year].sort_values("prov_code")["y"].to_numpy()[:, None]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = MoranRes(spreg.OLS(z, np.empty((len(z), 0))), wl, z=True)
        assert out.loc[year, "I"] == pytest.approx(ref.I, abs=1e-10)
        assert out.loc[year, "expected"] == pytest.approx(ref.eI, abs=1e-12)
        assert out.loc[year, "z_norm"] == pytest.approx(ref.zI, abs=1e-8)


def test_morans_i_pooled_and_permutations(W, panel):
    out = morans_i(panel, "y", W, permutations=499, seed=7)
    Wd = W.dense()
    Y = panel.pivot(index="year", columns="prov_code", values="y").to_numpy()
    Z = Y - Y.mean(axis=1, keepdims=True)
    pooled = sum(z @ Wd @ z for z in Z) / (Z * Z).sum() * W.n / Wd.sum()
    assert out.loc["pooled", "I"] == pytest.approx(pooled, rel=1e-12)
    assert out.loc["pooled", "n"] == W.n * 13
    # seeded: identical on rerun, different with another seed
    pd.testing.assert_frame_equal(out, morans_i(panel, "y", W, permutations=499, seed=7))
    assert not np.allclose(out["perm_mean"], morans_i(panel, "y", W, permutations=499, seed=8)["perm_mean"])
    # permutation mean close to the exact mean under randomization, -1/(N-1) (MC error sd/sqrt(R) ~ 0.005)
    per_year = out.drop(index="pooled")
    assert np.all(np.abs(per_year["perm_mean"] + 1 / (W.n - 1)) < 0.03)
    assert ((per_year["p_perm"] > 0) & (per_year["p_perm"] <= 1)).all()


def test_morans_i_detects_and_rejects_correctly(W):
    strong = simulate_sdm(W, rho=0.8, theta=(0.0, 0.0), seed=1, time_effects=False)
    none = simulate_sdm(W, rho=0.0, beta=(0.0, 0.0), theta=(0.0, 0.0), seed=2, unit_effects=False, time_effects=False)
    # no permutation reaches the observed I: the smallest two-sided pseudo p-value, 2/(R+1)
    assert morans_i(strong, "y", W, permutations=199).loc["pooled", "p_perm"] == pytest.approx(2 / 200)
    res = morans_i(none, "y", W, permutations=199)
    assert res.loc["pooled", "p_perm"] > 0.01 and abs(res.loc["pooled", "z_perm"]) < 3


def _lm_reference(y, Z, Wd, T):
    """Elhorst (2014) panel LM statistics with explicit Kronecker products (independent of fiproxy's code)."""
    NT = len(y)
    WW = np.kron(np.eye(T), Wd)
    b = np.linalg.solve(Z.T @ Z, Z.T @ y)
    e = y - Z @ b
    s2 = e @ e / NT
    tw = np.trace(Wd @ Wd + Wd.T @ Wd)
    M = np.eye(NT) - Z @ np.linalg.solve(Z.T @ Z, Z.T)
    wxb = WW @ Z @ b
    J = (wxb @ M @ wxb + T * tw * s2) / s2
    ewy, ewe = e @ WW @ y / s2, e @ WW @ e / s2
    return {"LM_lag": ewy**2 / J, "LM_error": ewe**2 / (T * tw),
            "robust_LM_lag": (ewy - ewe) ** 2 / (J - T * tw),
            "robust_LM_error": (ewe - T * tw / J * ewy) ** 2 / (T * tw * (1 - T * tw / J))}


@pytest.mark.parametrize("fe", ["individual", "time", "twoway"])
def test_lm_tests_match_kronecker_formulas(W, panel, fe):
    out = lm_tests("y ~ x1 + x2", panel, W, fe=fe)
    p = prepare_spatial_panel(panel, "y ~ x1 + x2", W, unit="prov_code", time="year", fe=fe)
    a = model_arrays(p)
    ref = _lm_reference(a["y"], a["Z"], W.dense(), 13)
    for k, v in ref.items():
        assert out.loc[k, "stat"] == pytest.approx(v, rel=1e-9), k
    assert (out["df"] == 1).all()


def test_lm_tests_match_spreg(W, panel):
    """spreg's panel LM tests on the same within-transformed data (they add a constant and use σ² = e'e/(NT-k));
    LM-error and robust LM-lag then differ from ours by the factor (NT/(NT-k))² and NT/(NT-k) exactly; rel. 1e-8."""
    from spreg import diagnostics_panel as dp

    out = lm_tests("y ~ x1 + x2", panel, W, fe="individual")
    p = prepare_spatial_panel(panel, "y ~ x1 + x2", W, unit="prov_code", time="year", fe="individual")
    a = model_arrays(p)
    NT, k = len(a["y"]), a["Z"].shape[1] + 1
    wl = _libpysal_w(W)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm_err = dp.panel_LMerror(a["y"][:, None], a["Z"], wl)[0]
        rlm_lag = dp.panel_rLMlag(a["y"][:, None], a["Z"], wl)[0]
    assert out.loc["LM_error", "stat"] == pytest.approx(lm_err * (NT / (NT - k)) ** 2, rel=1e-8)
    assert out.loc["robust_LM_lag", "stat"] == pytest.approx(rlm_lag * NT / (NT - k), rel=1e-8)


def test_lm_tests_power(W):
    lag = simulate_sdm(W, rho=0.5, theta=(0.0, 0.0), seed=11)
    res = lm_tests("y ~ x1 + x2", lag, W)
    assert res.loc["LM_lag", "p"] < 0.01
    null = simulate_sdm(W, rho=0.0, theta=(0.0, 0.0), seed=12)
    assert lm_tests("y ~ x1 + x2", null, W).loc["LM_lag", "p"] > 0.001


def test_bad_input(W, panel):
    with pytest.raises(UnbalancedPanelError, match=r"11: \[2013\]"):
        morans_i(panel.drop(index=panel.index[(panel.prov_code == 11) & (panel.year == 2013)]), "y", W)
    with pytest.raises(KeyError, match="did you mean"):
        morans_i(panel, "yy", W)
    with pytest.raises(ValueError, match="permutations"):
        morans_i(panel, "y", W, permutations=0)
    with pytest.raises(ValueError, match="not match the panel's units"):
        lm_tests("y ~ x1", panel[panel.prov_code != 11], W)


def test_lm_tests_old_argument_order_is_refused(W, panel):
    with pytest.raises(TypeError, match=r"order changed.*call lm_tests\('y ~ x1', data, W, \.\.\.\)"):
        lm_tests(panel, "y ~ x1", W)
