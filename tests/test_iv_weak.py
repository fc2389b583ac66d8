"""Weak-instrument, over-identification and endogeneity diagnostics of fiproxy.iv.

Reference values are Stata ivreg2 (Baum, Schaffer & Stillman 2007) output recorded as
benchmark fixtures in the public repository restatr/ivreg2r
(tests/stata-benchmarks/fixtures/):

- mroz (Wooldridge's textbook data; Mroz 1987), the ivreg2 help-file model
  ``ivreg2 lwage exper expersq (educ=age kidslt6 kidsge6)``:
  iid with ``endog(educ)`` -> ``hf_mroz_diagnostics_H33.csv``;
  ``robust endog(educ)`` -> ``mroz_endog_diagnostics_robust.csv``;
- card (Card 1995; Wooldridge's textbook data), ``ivreg2 lwage exper expersq black south
  (educ = nearc2 nearc4), liml robust`` -> ``card_liml_overid_{coef,diagnostics}_hc1.csv``;
- abdata (Arellano & Bond 1991), ``ivreg2 n (w k ys = d.w d.k d.ys d2.w d2.k d2.ys),
  cluster(id) endog(w)`` -> ``ab_cl_{coef,diagnostics}_cl.csv`` (reads ../shared/data).

mroz and card come with linearmodels.datasets. Tolerances: statistics that depend only on the
regressors and instruments (Cragg-Donald, Kleibergen-Paap) to 1e-9 relative on mroz/card; those
that involve the outcome to 1e-5 (the outcome of the Python copies is stored with fewer digits
than Stata's file: the 2SLS coefficients themselves differ at ~1e-7); abdata (8 significant
digits in the CSV) to 2e-5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import fiproxy
from fiproxy.data import simulate_panel
from fiproxy.estimators import iv_diagnostics
from fiproxy.estimators.iv import checked_vcov

card = pytest.importorskip("linearmodels.datasets.card")
mroz_data = pytest.importorskip("linearmodels.datasets.mroz")

MROZ = "lwage ~ exper + expersq | educ ~ age + kidslt6 + kidsge6"


@pytest.fixture(scope="module")
def mroz() -> pd.DataFrame:
    return mroz_data.load().dropna(subset=["lwage"]).reset_index(drop=True)


def test_mroz_iid_matches_ivreg2(mroz):
    s = fiproxy.iv(MROZ, mroz).stats
    assert fiproxy.iv(MROZ, mroz).nobs == 428
    assert s["cragg_donald_F"] == pytest.approx(4.342070862428497, rel=1e-9)
    assert s["anderson_LM"]["stat"] == pytest.approx(12.81582310684222, rel=1e-9)
    assert s["anderson_LM"]["pvalue"] == pytest.approx(0.0050523097869339, rel=1e-8)
    assert s["sargan"]["stat"] == pytest.approx(0.7015124317084478, rel=1e-5)
    assert s["sargan"]["df"] == 2
    assert s["endogeneity_C"]["stat"] == pytest.approx(0.0191471371914567, rel=1e-5)


def test_mroz_robust_matches_ivreg2(mroz):
    s = fiproxy.iv(MROZ, mroz, vcov="HC1").stats
    assert s["kleibergen_paap_F"] == pytest.approx(5.021219248782474, rel=1e-9)
    assert s["kleibergen_paap_LM"]["stat"] == pytest.approx(11.23055884485077, rel=1e-9)
    assert s["kleibergen_paap_LM"]["df"] == 3
    assert s["cragg_donald_F"] == pytest.approx(4.342070862428497, rel=1e-9)
    assert s["hansen_j"]["stat"] == pytest.approx(0.5138487725388226, rel=1e-5)
    assert s["endogeneity_C"]["stat"] == pytest.approx(0.0012997920834916, rel=1e-5)


def test_card_liml_robust_matches_ivreg2():
    c = card.load()
    r = fiproxy.iv("lwage ~ exper + expersq + black + south | educ ~ nearc2 + nearc4", c, vcov="HC1",
                   method="liml")
    n, K = r.nobs, 6
    assert r.stats["kappa"] == pytest.approx(1.000605709462808, rel=1e-9)
    assert r.params["educ"] == pytest.approx(0.2482702406090916, rel=1e-7)
    # ivreg2 without `small` has no n/(n-K) factor
    assert r.se["educ"] * np.sqrt((n - K) / n) == pytest.approx(0.0430528805549854, rel=1e-6)
    s = r.stats
    assert s["cragg_donald_F"] == pytest.approx(19.68298484786327, rel=1e-9)
    assert s["kleibergen_paap_F"] == pytest.approx(20.42000777158254, rel=1e-9)
    assert s["kleibergen_paap_LM"]["stat"] == pytest.approx(40.07919463212782, rel=1e-7)
    assert s["anderson_rubin"]["F"] == pytest.approx(27.85140644476052, rel=1e-6)
    assert s["hansen_j"]["stat"] == pytest.approx(1.790733007191367, rel=1e-5)


@pytest.mark.realdata
def test_abdata_cluster_three_endogenous_matches_ivreg2(shared_data):
    ab = pd.read_csv(shared_data / "abdata" / "abdata.csv").sort_values(["id", "year"])
    g = ab.groupby("id")
    for v in ("w", "k", "ys"):
        l1, l2 = g[v].shift(1), g[v].shift(2)
        ab[f"d_{v}"] = ab[v] - l1
        ab[f"d2_{v}"] = ab[v] - 2 * l1 + l2
    r = fiproxy.iv("n ~ 1 | w + k + ys ~ d_w + d_k + d_ys + d2_w + d2_k + d2_ys", ab, vcov={"CRV1": "id"},
                   endog_test=["w"])
    assert r.nobs == 751
    assert r.params["w"] == pytest.approx(0.2068228811129662, rel=2e-5)
    assert r.params["k"] == pytest.approx(0.6566704809414203, rel=2e-5)
    s = r.stats
    assert s["cragg_donald_F"] == pytest.approx(1.635189969309412, rel=2e-5)
    assert s["kleibergen_paap_F"] == pytest.approx(10.72610384764291, rel=2e-5)
    assert s["kleibergen_paap_LM"]["stat"] == pytest.approx(29.78650262720528, rel=2e-5)
    assert s["kleibergen_paap_LM"]["df"] == 4
    assert s["hansen_j"]["stat"] == pytest.approx(7.540198390518064, rel=2e-5)
    assert s["anderson_rubin"]["F"] == pytest.approx(12.42399420491589, rel=2e-5)
    assert s["endogeneity_C"]["stat"] == pytest.approx(0.3591424019379055, rel=5e-5)
    assert set(s["first_stage"]["w"]["sw"]) >= {"F", "pvalue"}


# ---------------------------------------------------------------------------- identities
@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    df = simulate_panel(seed=5).data.copy()
    df["z2"] = df.groupby("prov_code")["mobile_internet_pc"].shift(1)
    return df.dropna(subset=["z2"]).reset_index(drop=True)


def test_effective_f_identities(panel):
    """One instrument: F_eff = robust first-stage F; iid: F_eff = classical first-stage F
    (Montiel Olea & Pflueger 2013, section 3); simplified critical value with one instrument
    under homoskedasticity = 23.1085 (their Table 1, tau = 10%, 5% level)."""
    f1 = "ln_loans_gdp ~ ln_gdp_pc | prov_code + year | ln_dfi_index ~ iv_dist_trend"
    r = fiproxy.iv(f1, panel, vcov={"CRV1": "prov_code"})
    assert r.stats["effective_F"]["F_eff"] == pytest.approx(r.stats["first_stage"]["ln_dfi_index"]["F"], rel=1e-10)
    f2 = f1 + " + z2"
    r = fiproxy.iv(f2, panel)
    assert r.stats["effective_F"]["F_eff"] == pytest.approx(r.stats["first_stage"]["ln_dfi_index"]["F"], rel=1e-10)
    assert r.stats["effective_F"]["K_eff"] == pytest.approx(2.0, rel=1e-10)
    assert iv_diagnostics.mop_critical_value(np.eye(1))[0] == pytest.approx(23.1085, abs=5e-4)


def test_cragg_donald_is_first_stage_f_with_one_endogenous(panel):
    f = "ln_loans_gdp ~ ln_gdp_pc | prov_code + year | ln_dfi_index ~ iv_dist_trend + z2"
    s = fiproxy.iv(f, panel).stats
    assert s["cragg_donald_F"] == pytest.approx(s["first_stage"]["ln_dfi_index"]["F"], rel=1e-10)


@pytest.mark.parametrize("vcov", ["iid", {"CRV1": "prov_code"}])
def test_anderson_rubin_equals_reduced_form_wald_and_fieller_set(panel, vcov):
    """AR(b0) is the Wald test of the excluded instrument in the twfe regression of y - b0*x;
    with one instrument the AR set is {b: (g - b pi)^2 <= c (Vgg - 2b Vgp + b^2 Vpp)}, solved in
    closed form from the two reduced forms and their joint covariance."""
    f = "ln_loans_gdp ~ ln_gdp_pc | prov_code + year | ln_dfi_index ~ iv_dist_trend"
    r = fiproxy.iv(f, panel, vcov=vcov)
    b0 = 0.1
    ar = iv_diagnostics.anderson_rubin(iv_diagnostics._ar_pieces(r.extra["iv_design"], checked_vcov(vcov), "year"),
                                       [b0])
    t = fiproxy.twfe("yt ~ ln_gdp_pc + iv_dist_trend | prov_code + year",
                     panel.assign(yt=panel["ln_loans_gdp"] - b0 * panel["ln_dfi_index"]), vcov=vcov)
    w = t.wald_test(np.array([[0.0, 1.0]]))
    assert ar["F"] == pytest.approx(w["stat"], rel=1e-9)
    # closed form: stack the reduced form of y and the first stage
    ty = fiproxy.twfe("ln_loans_gdp ~ ln_gdp_pc + iv_dist_trend | prov_code + year", panel, vcov=vcov)
    tx = fiproxy.twfe("ln_dfi_index ~ ln_gdp_pc + iv_dist_trend | prov_code + year", panel, vcov=vcov)
    g, p = ty.params["iv_dist_trend"], tx.params["iv_dist_trend"]
    # covariance of (g, p) by linearity: Var(g - b p) from the regression of y - b x at b = 0, 1, -1
    def var_at(b):
        tb = fiproxy.twfe("yt ~ ln_gdp_pc + iv_dist_trend | prov_code + year",
                          panel.assign(yt=panel["ln_loans_gdp"] - b * panel["ln_dfi_index"]), vcov=vcov)
        return tb.vcov.loc["iv_dist_trend", "iv_dist_trend"]
    v0, v1, vm = var_at(0.0), var_at(1.0), var_at(-1.0)
    Vgg, Vpp = v0, (v1 + vm) / 2 - v0
    Vgp = (vm - v1) / 4
    c = ty.critical_value(0.95) ** 2
    qa, qb, qc = p * p - c * Vpp, -2 * (g * p - c * Vgp), g * g - c * Vgg
    roots = np.sort(np.roots([qa, qb, qc]).real)
    assert qa > 0  # strong instrument: a bounded interval
    (lo, hi), = r.stats["ar_confidence_set"]
    assert lo == pytest.approx(roots[0], rel=1e-7)
    assert hi == pytest.approx(roots[1], rel=1e-7)
    assert lo < r.params["ln_dfi_index"] < hi


def test_ar_set_unbounded_with_irrelevant_instrument(panel):
    rng = np.random.default_rng(0)
    df = panel.assign(noise=rng.standard_normal(len(panel)))
    r = fiproxy.iv("ln_loans_gdp ~ ln_gdp_pc | prov_code + year | ln_dfi_index ~ noise", df,
                   vcov={"CRV1": "prov_code"})
    ivals = r.stats["ar_confidence_set"]
    assert ivals[0][0] == -np.inf and ivals[-1][1] == np.inf
    assert any("weak instruments" in w for w in r.warnings)


def test_sargan_is_n_r2_and_c_test_sign(panel):
    """Sargan = (N - df_fe) * uncentered R2 of the 2SLS residual on all (demeaned) instruments."""
    f = "ln_loans_gdp ~ ln_gdp_pc | prov_code + year | ln_dfi_index ~ iv_dist_trend + z2"
    r = fiproxy.iv(f, panel)
    des = r.extra["iv_design"]
    e = des.y - des.X @ r.params.to_numpy()
    fitted = des.Z @ np.linalg.lstsq(des.Z, e, rcond=None)[0]
    assert r.stats["sargan"]["stat"] == pytest.approx((r.nobs - des.df_fe) * (fitted @ fitted) / (e @ e), rel=1e-10)
    assert r.stats["sargan"]["pvalue"] == pytest.approx(st.chi2.sf(r.stats["sargan"]["stat"], 1), rel=1e-12)
    assert r.stats["endogeneity_C"]["stat"] >= 0
