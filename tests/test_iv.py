"""fiproxy.iv: FE-IV estimates and covariances against linearmodels with dummy fixed effects,
CRV3 against explicit leave-one-cluster-out refits, simulated truth, bad input.

Conventions: linearmodels ``fit(debiased=True)`` counts every fixed-effect dummy in K, as
fiproxy does (absorbed FE dof = levels - (m - 1)); the clustered comparison uses a fixed
effect not nested in the cluster variable, where fixest's nesting rule does not apply.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import fiproxy
from fiproxy.data import simulate_panel
from fiproxy.estimators.design import DesignError
from fiproxy.estimators.inference.vcov import VcovError

IV2SLS = pytest.importorskip("linearmodels.iv").IV2SLS
IVLIML = pytest.importorskip("linearmodels.iv").IVLIML

F2 = "ln_loans_gdp ~ ln_gdp_pc + urbanization | prov_code + year | ln_dfi_index ~ iv_dist_trend + z2"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df = simulate_panel(seed=3).data.copy()
    df["z2"] = df.groupby("prov_code")["mobile_internet_pc"].shift(1)
    return df.dropna(subset=["z2"]).reset_index(drop=True)


def _exog(df, fe, cols):
    D = pd.get_dummies(df[fe].astype(str), drop_first=True, dtype=float)
    return pd.concat([pd.Series(1.0, index=df.index, name="const"), df[cols], D], axis=1)


@pytest.mark.parametrize("vcov,lm_cov", [("iid", {"cov_type": "unadjusted"}), ("HC1", {"cov_type": "robust"})])
@pytest.mark.parametrize("method", ["2sls", "liml", "fuller"])
def test_two_way_fe_iv_matches_linearmodels_dummies(panel, vcov, lm_cov, method):
    """Params to 1e-8, SEs to 1e-6 (relative) vs linearmodels IV2SLS/IVLIML(fuller=1) with FE dummies."""
    r = fiproxy.iv(F2, panel, vcov=vcov, method=method)
    est = IV2SLS if method == "2sls" else IVLIML
    kw = {"fuller": 1.0} if method == "fuller" else {}
    ref = est(panel["ln_loans_gdp"], _exog(panel, ["prov_code", "year"], ["ln_gdp_pc", "urbanization"]),
              panel[["ln_dfi_index"]], panel[["iv_dist_trend", "z2"]], **kw).fit(debiased=True, **lm_cov)
    names = ["ln_dfi_index", "ln_gdp_pc", "urbanization"]
    np.testing.assert_allclose(r.params[names], ref.params[names], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r.se[names], ref.std_errors[names], rtol=1e-6)
    if method != "2sls":
        assert r.stats["kappa"] == pytest.approx(ref.kappa, rel=1e-10)
    assert r.model == f"iv-{method}"
    assert r.df_t == r.nobs - 3 - r.stats["df_fe"]


def test_clustered_iv_matches_linearmodels(panel):
    """CRV1 by province with year FE (not nested): SE to 1e-6 vs linearmodels clustered, debiased."""
    f = "ln_loans_gdp ~ ln_gdp_pc | year | ln_dfi_index ~ iv_dist_trend + z2"
    r = fiproxy.iv(f, panel, vcov={"CRV1": "prov_code"})
    ref = IV2SLS(panel["ln_loans_gdp"], _exog(panel, ["year"], ["ln_gdp_pc"]), panel[["ln_dfi_index"]],
                 panel[["iv_dist_trend", "z2"]]).fit(debiased=True, cov_type="clustered", clusters=panel["prov_code"])
    np.testing.assert_allclose(r.params[["ln_dfi_index", "ln_gdp_pc"]], ref.params[["ln_dfi_index", "ln_gdp_pc"]],
                               rtol=1e-8)
    np.testing.assert_allclose(r.se[["ln_dfi_index", "ln_gdp_pc"]], ref.std_errors[["ln_dfi_index", "ln_gdp_pc"]],
                               rtol=1e-6)
    assert r.df_t == 30  # G - 1
    # vcov_as switches without refitting and equals a refit
    assert np.allclose(r.vcov_as("HC1").vcov, fiproxy.iv(f, panel, vcov="HC1").vcov, rtol=1e-12)


def test_first_stage_and_sargan_match_linearmodels(panel):
    """First-stage F / partial R2 to 1e-8; Sargan: linearmodels n*R2 = ours * N/(N - df_fe) (dofminus)."""
    r = fiproxy.iv(F2, panel)
    ref = IV2SLS(panel["ln_loans_gdp"], _exog(panel, ["prov_code", "year"], ["ln_gdp_pc", "urbanization"]),
                 panel[["ln_dfi_index"]], panel[["iv_dist_trend", "z2"]]).fit(debiased=True, cov_type="unadjusted")
    diag = ref.first_stage.diagnostics.loc["ln_dfi_index"]
    fs = r.stats["first_stage"]["ln_dfi_index"]
    assert fs["F"] == pytest.approx(diag["f.stat"], rel=1e-8)
    assert fs["partial_r2"] == pytest.approx(diag["partial.rsquared"], rel=1e-8)
    n, d = r.nobs, r.stats["df_fe"]
    assert r.stats["sargan"]["stat"] * n / (n - d) == pytest.approx(ref.sargan.stat, rel=1e-8)
    first = r.extra["first_stages"]["ln_dfi_index"]
    assert list(first.params.index) == ["ln_gdp_pc", "urbanization", "iv_dist_trend", "z2"]
    assert first.wald_test(np.eye(4)[2:])["stat"] == pytest.approx(fs["F"], rel=1e-12)


def test_weighted_iv_matches_linearmodels(panel):
    w = panel["population"] / panel["population"].mean()
    r = fiproxy.iv(F2, panel.assign(w=w), vcov="HC1", weights="w")
    ref = IV2SLS(panel["ln_loans_gdp"], _exog(panel, ["prov_code", "year"], ["ln_gdp_pc", "urbanization"]),
                 panel[["ln_dfi_index"]], panel[["iv_dist_trend", "z2"]], weights=w).fit(debiased=True, cov_type="robust")
    np.testing.assert_allclose(r.params["ln_dfi_index"], ref.params["ln_dfi_index"], rtol=1e-8)
    np.testing.assert_allclose(r.se["ln_dfi_index"], ref.std_errors["ln_dfi_index"], rtol=1e-6)


def test_crv3_equals_explicit_leave_one_cluster_out(panel):
    f = "ln_loans_gdp ~ ln_gdp_pc | prov_code + year | ln_dfi_index ~ iv_dist_trend"
    r = fiproxy.iv(f, panel, vcov={"CRV3": "prov_code"})
    b = r.params.to_numpy()
    provs = panel["prov_code"].unique()
    D = np.array([fiproxy.iv(f, panel[panel.prov_code != p], diagnostics=False).params.to_numpy() - b
                  for p in provs])
    G = len(provs)
    np.testing.assert_allclose(r.vcov.to_numpy(), (G - 1) / G * D.T @ D, rtol=1e-8)


def test_simulated_truth_total_effect_recovered():
    """The instrument identifies the total effect c + a*b = 0.30 of ln_dfi_index (DGP in
    fiproxy.data.simulate): |estimate - truth| < 3 cluster-robust SEs on the default panel."""
    p = simulate_panel()
    truth = p.truth["effects"]["H1"]
    f = f"{truth['outcome']} ~ ln_gdp_pc | prov_code + year | {truth['treatment']} ~ {truth['instrument']}"
    r = fiproxy.iv(f, p.data, vcov={"CRV1": "prov_code"})
    est, se = r.params[truth["treatment"]], r.se[truth["treatment"]]
    assert abs(est - truth["total"]) < 3 * se, (est, se)
    assert r.stats["effective_F"]["F_eff"] > 10


def test_iv_without_fixed_effects_has_intercept(panel):
    r = fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | ln_dfi_index ~ iv_dist_trend", panel)
    assert "Intercept" in r.params.index


# ---------------------------------------------------------------------------- bad input
def test_missing_column_lists_close_names(panel):
    with pytest.raises(DesignError, match="did you mean 'iv_dist_trend'"):
        fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | prov_code | ln_dfi_index ~ iv_dist_trnd", panel)


def test_nan_in_cluster_variable(panel):
    bad = panel.assign(cl=panel["prov_code"].astype(float))
    bad.loc[5, "cl"] = np.nan
    with pytest.raises(VcovError, match="missing value"):
        fiproxy.iv(F2, bad, vcov={"CRV1": "cl"})


def test_one_cluster(panel):
    with pytest.raises(VcovError, match="single cluster"):
        fiproxy.iv(F2, panel.assign(one=1), vcov={"CRV1": "one"})


def test_collinear_endogenous_and_instruments(panel):
    with pytest.raises(DesignError, match="collinear"):
        fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | prov_code | ln_dfi_index ~ iv_dist_trend + z3",
                   panel.assign(z3=2 * panel["iv_dist_trend"]), collinear="raise")
    with pytest.raises(DesignError, match="collinear"):
        fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | prov_code | ln_dfi_index ~ iv_dist_trend",
                   panel.assign(ln_dfi_index=2 * panel["ln_gdp_pc"]))
    # a time-invariant instrument is absorbed by the province effects: nothing identifies the slope
    with pytest.raises(DesignError, match="too few instruments|collinear"):
        fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | prov_code | ln_dfi_index ~ dist_hangzhou", panel)


def test_non_numeric_regressor(panel):
    with pytest.raises(DesignError, match="not numeric"):
        fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | prov_code | ln_dfi_index ~ zz", panel.assign(zz="a"))


def test_fewer_instruments_than_endogenous(panel):
    with pytest.raises(DesignError, match="under-identified"):
        fiproxy.iv("ln_loans_gdp ~ urbanization | prov_code | ln_dfi_index + ln_gdp_pc ~ iv_dist_trend", panel)


def test_other_bad_specs(panel):
    with pytest.raises(DesignError, match="no instrumental-variable part"):
        fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | prov_code", panel)
    with pytest.raises(DesignError, match="both as exogenous"):
        fiproxy.iv("ln_loans_gdp ~ ln_dfi_index | prov_code | ln_dfi_index ~ iv_dist_trend", panel)
    with pytest.raises(DesignError, match="excluded instrument and a regressor"):
        fiproxy.iv("ln_loans_gdp ~ iv_dist_trend | prov_code | ln_dfi_index ~ iv_dist_trend", panel)
    with pytest.raises(VcovError, match="not defined for instrumental"):
        fiproxy.iv(F2, panel, vcov="HC3")
    with pytest.raises(ValueError, match="method"):
        fiproxy.iv(F2, panel, method="gmm")


def test_wild_bootstrap_refuses_iv_result(panel):
    r = fiproxy.iv(F2, panel, vcov={"CRV1": "prov_code"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="no linear design"):
            fiproxy.wild_bootstrap(r, "ln_dfi_index", B=99)
