"""Callaway–Sant'Anna DiD (fiproxy.did, method="cs") against published values and csdid / differences.

Reference values: the did package vignette's ATT(g,t), simple ATT and event-study
effects on mpdta (quoted in ../shared/data/mpdta/SOURCE.md), checked to 4 decimals
(and the unrounded aggregates to 1e-6). Package comparisons run both packages on
the same data in the same process: csdid 0.4 (a port of R did) and differences 0.3.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from fiproxy.estimators.did import aggregate, did

pytestmark = pytest.mark.realdata

ATT_GT = {  # SOURCE.md / did vignette, rounded to 4 decimals
    (2004, 2004): -0.0105, (2004, 2005): -0.0704, (2004, 2006): -0.1373, (2004, 2007): -0.1008,
    (2006, 2004): 0.0065, (2006, 2005): -0.0028, (2006, 2006): -0.0046, (2006, 2007): -0.0412,
    (2007, 2004): 0.0305, (2007, 2005): -0.0027, (2007, 2006): -0.0311, (2007, 2007): -0.0261,
}
EVENT = {0: -0.019932, 1: -0.050957, 2: -0.137259, 3: -0.100811}  # unrounded, SOURCE.md
ARGS = dict(y="lemp", unit="county_id", time="year", cohort="first_treat")


@pytest.fixture(scope="module")
def base_fit(mpdta):
    return did(mpdta, **ARGS, aggregate="attgt", bootstrap=False)


def _csdid(data, **kw):
    att_gt = pytest.importorskip("csdid.att_gt")
    fit = kw.pop("fit", {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return att_gt.ATTgt(yname="lemp", gname="first_treat", idname="county_id", tname="year", data=data,
                            **kw).fit(bstrap=False, **fit)


# ----------------------------------------------------------------------------- published values
def test_att_gt_match_published_table(base_fit):
    tab = base_fit.extra["att_gt"]
    assert len(tab) == 12
    for (g, t), v in ATT_GT.items():
        got = tab.loc[f"ATT({g},{t})", "estimate"]
        assert round(got, 4) == v, (g, t, got)


def test_simple_and_event_aggregations_match_published(base_fit):
    assert round(base_fit.stats["att_simple"], 4) == -0.0400
    assert base_fit.stats["att_simple"] == pytest.approx(-0.039951, abs=1e-6)
    ev = base_fit.extra["aggregations"]["event"]
    for e, v in EVENT.items():
        assert ev.loc[e, "estimate"] == pytest.approx(v, abs=1e-6)
        assert round(ev.loc[e, "estimate"], 4) == round(v, 4)
    # the vignette's simple-ATT SE is about 0.012 (bootstrap); analytic IF SE here
    assert base_fit.stats["att_simple_se"] == pytest.approx(0.0120, abs=5e-4)


def test_default_params_are_event_time_effects(mpdta):
    res = did(mpdta, **ARGS, bootstrap=False)
    assert res.model == "did-cs" and res.df_t is None
    assert list(res.params.index) == ["e=-3", "e=-2", "e=-1", "e=0", "e=1", "e=2", "e=3"]
    assert res.params["e=2"] == pytest.approx(EVENT[2], abs=1e-6)
    assert res.vcov.shape == (7, 7)


# ----------------------------------------------------------------------------- vs csdid
@pytest.mark.parametrize("est", ["reg", "ipw", "dr"])
@pytest.mark.parametrize("control", ["nevertreated", "notyettreated"])
@pytest.mark.parametrize("base", ["varying", "universal"])
def test_covariates_match_csdid(mpdta, est, control, base):
    """ATT(g,t), analytic SEs and the event aggregation with xformla ~ lpop; tolerance 1e-6 (abs)."""
    ref = _csdid(mpdta, xformla="lemp~lpop", control_group=control, fit={"est_method": est, "base_period": base})
    res = did(mpdta, **ARGS, aggregate="attgt", bootstrap=False, covariates="~ lpop", est_method=est,
              control=control, base_period=base)
    np.testing.assert_allclose(res.params.to_numpy(), np.asarray(ref.results["att"], float), rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.extra["att_gt"]["se"].to_numpy(), np.asarray(ref.results["se"], float),
                               rtol=0, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.aggte("dynamic")
    ev = res.extra["aggregations"]["event"]
    np.testing.assert_allclose(ev["estimate"], np.asarray(ref.atte["att_egt"], float), atol=1e-6)
    np.testing.assert_allclose(ev["se"], np.asarray(ref.atte["se_egt"], float), atol=1e-6, equal_nan=True)
    assert res.stats["att_event"] == pytest.approx(ref.atte["overall_att"], abs=1e-6)
    assert res.stats["att_event_se"] == pytest.approx(ref.atte["overall_se"], abs=1e-6)


def test_weights_and_clusters_match_csdid(mpdta):
    d = mpdta.copy()
    u = d["county_id"].unique()
    d["w"] = d["county_id"].map(pd.Series(np.random.default_rng(0).uniform(0.5, 2, len(u)), index=u))
    d["state"] = d["county_id"] // 1000
    ref = _csdid(d, xformla="lemp~lpop", weights_name="w", fit={"est_method": "dr"})
    res = did(d, **ARGS, aggregate="attgt", bootstrap=False, covariates=["lpop"], weights="w")
    np.testing.assert_allclose(res.params, np.asarray(ref.results["att"], float), atol=1e-8)
    np.testing.assert_allclose(res.se, np.asarray(ref.results["se"], float), atol=1e-8)
    ref = _csdid(d, clustervar="state")
    res = did(d, **ARGS, aggregate="attgt", bootstrap=False, cluster="state")
    np.testing.assert_allclose(res.se, np.asarray(ref.results["se"], float), atol=1e-8)
    assert "clustered" in res.vcov_type


def test_not_yet_treated_without_never_treated_matches_csdid(mpdta):
    d = mpdta[mpdta["first_treat"] > 0]
    ref = _csdid(d, control_group="notyettreated")
    res = did(d, **ARGS, aggregate="attgt", bootstrap=False, control="notyettreated")
    assert list(res.params.index) == [f"ATT({g},{t})" for g in (2004, 2006) for t in (2004, 2005, 2006)]
    np.testing.assert_allclose(res.params, np.asarray(ref.results["att"], float), atol=1e-8)
    np.testing.assert_allclose(res.se, np.asarray(ref.results["se"], float), atol=1e-8)
    assert any("comparison group" in w for w in res.warnings)


def test_event_window_options_match_csdid(mpdta, base_fit):
    ref = _csdid(mpdta)
    for kw in ({"balance_e": 1}, {"min_e": -2, "max_e": 2}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.aggte("dynamic", **kw)
        res = aggregate(base_fit, "event", **kw)
        np.testing.assert_allclose(res.params, np.asarray(ref.atte["att_egt"], float), atol=1e-8)
        np.testing.assert_allclose(res.se, np.asarray(ref.atte["se_egt"], float), atol=1e-8)
        assert res.stats is base_fit.stats


# ----------------------------------------------------------------------------- vs differences
@pytest.mark.parametrize("ours,theirs,se_tol", [("dr", "dr-mle", 1e-9), ("reg", "reg", 1e-9),
                                                ("ipw", "std_ipw-mle", 1e-9), ("dr-imp", "dr-ipt", 1e-6)])
def test_all_aggregations_match_differences(mpdta, ours, theirs, se_tol):
    """Point estimates to 1e-9; SEs to 1e-9 (1e-6 for the improved DR, whose IPT solvers differ)."""
    differences = pytest.importorskip("differences")
    d = mpdta.assign(cohort=mpdta["first_treat"].replace(0, np.nan)).set_index(["county_id", "year"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att = differences.ATTgt(data=d, cohort_column="cohort")
        att.fit(formula="lemp ~ lpop", est_method=theirs, control_group="never_treated", progress_bar=False)
        tabs = {k: att.aggregate(dk) for k, dk in
                [("simple", "simple"), ("group", "cohort"), ("calendar", "time"), ("event", "event")]}
        cells = att.results()
    res = did(mpdta, **ARGS, aggregate="attgt", bootstrap=False, covariates=["lpop"], est_method=ours)
    np.testing.assert_allclose(res.params, cells.iloc[:, 0], atol=1e-9)
    np.testing.assert_allclose(res.se, cells.iloc[:, 1], atol=se_tol)
    for kind, tab in tabs.items():
        mine = res.extra["aggregations"][kind]
        np.testing.assert_allclose(mine["estimate"], tab.iloc[:, 0], atol=1e-9, err_msg=kind)
        np.testing.assert_allclose(mine["se"], tab.iloc[:, 1], atol=se_tol, err_msg=kind)


# ----------------------------------------------------------------------------- bootstrap
def test_bootstrap_is_seeded_and_close_to_analytic(mpdta, base_fit):
    a = did(mpdta, **ARGS, seed=7)
    b = did(mpdta, **ARGS, seed=7)
    c = did(mpdta, **ARGS, seed=8)
    pd.testing.assert_series_equal(a.se, b.se)
    assert not np.allclose(a.se, c.se)
    analytic = base_fit.extra["aggregations"]["event"]["se"].to_numpy()
    ratio = a.se.to_numpy() / analytic
    assert np.all((ratio > 0.85) & (ratio < 1.15)), ratio  # 999 draws: IQR-based SE within 15%
    crit = a.extra["crit_values"]["event"]
    assert 1.96 < crit < 3.5
    tab = a.extra["table"]
    assert np.all(tab["band_lower"] < tab["ci_lower"]) and np.all(tab["band_upper"] > tab["ci_upper"])


def test_bootstrap_se_converges_to_influence_function_se(mpdta, base_fit):
    res = did(mpdta, **ARGS, aggregate="simple", biters=20000, seed=1, boot_weights="rademacher")
    assert res.se.iloc[0] == pytest.approx(base_fit.stats["att_simple_se"], rel=0.03)


def test_universal_base_cell_is_zero_without_se(mpdta):
    res = did(mpdta, **ARGS, aggregate="attgt", base_period="universal", seed=3)
    tab = res.extra["att_gt"]
    assert tab.loc["ATT(2006,2005)", "estimate"] == 0.0 and np.isnan(tab.loc["ATT(2006,2005)", "se"])
    assert len(tab) == 15


def test_pretrend_wald_test(base_fit):
    # 5 pre-treatment cells; chi2 statistic is finite and p in (0, 1)
    assert base_fit.stats["pretrend_df"] == 5
    assert 0 < base_fit.stats["pretrend_p"] < 1


def test_treatment_indicator_gives_same_result(mpdta, base_fit):
    d = mpdta.assign(d=((mpdta["first_treat"] > 0) & (mpdta["year"] >= mpdta["first_treat"])).astype(int))
    res = did(d, "lemp", "county_id", "year", treatment="d", aggregate="attgt", bootstrap=False)
    pd.testing.assert_series_equal(res.params, base_fit.params)


# ----------------------------------------------------------------------------- simulated truth
def test_recovers_known_dynamic_effects_where_twfe_is_biased():
    """Simulated staggered panel with growing effects: CS is unbiased (tolerance 4 SE)."""
    rng = np.random.default_rng(42)
    n, years = 600, np.arange(2010, 2020)
    cohort = rng.choice([2013, 2015, 2017, 0], size=n, p=[0.25, 0.25, 0.25, 0.25])
    rows = []
    for i in range(n):
        a = rng.normal()
        for t in years:
            e = t - cohort[i] if cohort[i] else -99
            eff = 0.1 * (e + 1) if e >= 0 else 0.0
            rows.append((i, t, cohort[i], a + 0.05 * (t - 2010) + eff + rng.normal(scale=0.5)))
    d = pd.DataFrame(rows, columns=["id", "t", "g", "y"])
    res = did(d, "y", "id", "t", "g", bootstrap=False)
    for e in range(0, 3):
        assert abs(res.params[f"e={e}"] - 0.1 * (e + 1)) < 4 * res.se[f"e={e}"]
    for e in (-3, -2, -1):
        assert abs(res.params[f"e={e}"]) < 4 * res.se[f"e={e}"]
