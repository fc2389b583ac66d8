"""SIMULATED default panel: determinism, completeness, labels, plausibility and recoverable truth.

Truth-recovery tolerances are about 3 Monte Carlo standard deviations of the estimator across
seeds (measured over 20 seeds: FE total effect sd 0.034, simple DiD ATT sd 0.017, H4 sd 0.047,
FE-IV sd 0.044), so a correct DGP fails with probability well under 1%.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fiproxy.data import load_catalog, simulate_panel, validate_panel
from fiproxy.data.simulate import CALIBRATION_JSON, contiguity_matrix
from fiproxy.estimators.demean import demean, factorize_fe


@pytest.fixture(scope="module")
def sim():
    return simulate_panel()


def fe_slopes(df: pd.DataFrame, y: str, xs: list[str]) -> np.ndarray:
    """Two-way (province, year) fixed-effects OLS slopes."""
    codes = factorize_fe(df[["prov_code", "year"]])
    d, _ = demean(df[[y, *xs]].to_numpy(dtype="float64"), codes)
    return np.linalg.lstsq(d[:, 1:], d[:, 0], rcond=None)[0]


def did_att(df: pd.DataFrame, cohorts) -> float:
    """Average of 2x2 DiD means (cohort g vs never treated, base year g-1), weighted by cohort size."""
    m = df.groupby(["pilot_cohort", "year"])["bank_outlets_pc"].mean()
    vals, w = [], []
    for g in cohorts:
        n = int((df.loc[df["year"] == g, "pilot_cohort"] == g).sum())
        for t in range(g, int(df["year"].max()) + 1):
            vals.append((m[(g, t)] - m[(g, g - 1)]) - (m[(0, t)] - m[(0, g - 1)]))
            w.append(n)
    return float(np.average(vals, weights=w))


def test_deterministic_and_seed_dependent(sim):
    again = simulate_panel()
    pd.testing.assert_frame_equal(sim.data, again.data)
    assert sim.truth == again.truth
    other = simulate_panel(seed=7)
    assert not np.allclose(other.data["dfi_index"], sim.data["dfi_index"])


def test_shape_every_catalog_variable_no_gaps(sim):
    cat = load_catalog()
    assert sim.data.shape[0] == 31 * 13 and sim.years == (2011, 2023)
    assert set(cat.names) <= set(sim.data.columns)
    assert sim.data[cat.names].notna().all().all() and sim.gaps.empty
    for seed in (0, 1, 2):
        assert validate_panel(simulate_panel(seed=seed)).ok
    d = sim.data
    np.testing.assert_allclose(d["loans_gdp"], d["loans"] / d["gdp"], rtol=1e-13)
    np.testing.assert_allclose(d["iv_dist_trend"], d["dist_hangzhou"] * (d["year"] - 2011), rtol=1e-13)
    assert ((d["secondary_share"] + d["tertiary_share"]) < 1).all()
    assert set(d["pilot"].unique()) == {0.0, 1.0}


def test_labelled_simulated_everywhere(sim):
    assert sim.simulated and sim.label.startswith("SIMULATED")
    text = sim.summary()
    assert text.splitlines()[0].startswith("SIMULATED panel")
    assert text.rstrip().splitlines()[-1].startswith("SIMULATED DATA")
    assert all("SIMULATED" in sim.meta[c].release or sim.meta[c].transformation != "simulated" for c in sim.variables)
    assert sim.meta["dfi_index"].source.startswith("SIMULATED")
    assert sim.to_frame().attrs["simulated"] is True and "SIMULATED" in repr(sim)
    assert any(k.endswith("calibration.json") for k in sim.files)


def test_levels_near_calibrated_means(sim):
    cal = json.loads(CALIBRATION_JSON.read_text())["variables"]
    means = sim.data.groupby("year").mean()
    for var, rel in (("dfi_index", 0.25), ("loans_gdp", 0.25), ("urbanization", 0.15), ("gdp_pc", 0.3)):
        c = cal[var]
        for year, level in zip(c["years"], c["level_mean"]):
            assert means.loc[year, var] == pytest.approx(level, rel=rel), (var, year)
    # province components keep the calibrated sign of correlation with distance to Hangzhou (-0.68 for dfi_index)
    prov = sim.data.groupby("prov_code")[["ln_dfi_index", "dist_hangzhou"]].mean()
    assert prov.corr().iloc[0, 1] < -0.2


def test_h1_total_effect_by_fe_and_iv(sim):
    t = sim.truth["effects"]["H1"]
    assert t["total"] == pytest.approx(t["direct"] + t["a"] * t["b"])
    d = sim.data
    assert fe_slopes(d, "ln_loans_gdp", ["ln_dfi_index"])[0] == pytest.approx(t["total"], abs=0.10)
    assert fe_slopes(d, "ln_dfi_digitization", ["ln_dfi_index"])[0] == pytest.approx(t["a"], abs=0.25)
    codes = factorize_fe(d[["prov_code", "year"]])
    w, _ = demean(d[["ln_loans_gdp", "ln_dfi_index", "iv_dist_trend"]].to_numpy(dtype="float64"), codes)
    assert (w[:, 2] @ w[:, 0]) / (w[:, 2] @ w[:, 1]) == pytest.approx(t["total"], abs=0.15)


def test_h4_and_policy_att(sim):
    d = sim.data
    assert fe_slopes(d, "ln_dfi_credit", ["ln_dfi_digitization"])[0] == pytest.approx(sim.truth["effects"]["H4"]["delta"], abs=0.15)
    pol = sim.truth["effects"]["POLICY"]
    cohorts = sorted(set(pol["adoption"].values()))
    assert cohorts == [2015, 2017, 2019] and len(pol["never_treated"]) == 16
    adopt = d.drop_duplicates("prov_code").set_index("prov_code")["pilot_cohort"]
    assert {c: int(g) for c, g in adopt.items() if g > 0} == pol["adoption"]
    assert did_att(d, cohorts) == pytest.approx(pol["att"], abs=0.05)
    assert pol["att_gt"]["2015:2015"] == pytest.approx(0.10) and pol["att_gt"]["2015:2023"] == pytest.approx(0.26)


def test_truth_metadata_complete(sim):
    eff = sim.truth["effects"]
    assert set(eff) >= {"H1", "H2", "H3", "H4", "H5", "POLICY"}
    cat = load_catalog()
    for key in ("H1", "H2", "H3", "H4", "H5", "POLICY"):
        assert eff[key]["equation"] and eff[key]["statement"]
        for field in ("outcome", "treatment", "mediator", "regressor", "threshold_variable", "instrument"):
            if field in eff[key]:
                assert eff[key][field] in cat, (key, field)
    h3 = eff["H3"]
    assert 0.15 < h3["share_low"] < 0.85 and h3["beta_high"] != h3["beta_low"]
    assert eff["H2"]["turning_point"] == pytest.approx(0.125)
    codes, w = contiguity_matrix()
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert w[list(codes).index(46), list(codes).index(44)] == 1.0  # Hainan linked to Guangdong
    h5 = eff["H5"]
    assert h5["total_effect"] == pytest.approx((h5["beta"] + h5["theta"]) / (1 - h5["rho"]), rel=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown effect name"):
        simulate_panel(effects={"tau": 1.0})
    with pytest.raises(TypeError, match="seed must be an integer"):
        simulate_panel(seed=1.5)
    with pytest.raises(ValueError, match="adoption year 2017 must lie after the first"):
        simulate_panel(years=(2011, 2016))
    with pytest.raises(FileNotFoundError, match="scripts/calibrate.py"):
        simulate_panel(calibration="/nonexistent/calibration.json")


def test_effect_overrides_change_truth():
    p = simulate_panel(effects={"tau0": 0.3, "tau1": 0.0})
    assert p.truth["effects"]["POLICY"]["att"] == pytest.approx(0.3)
    assert did_att(p.data, [2015, 2017, 2019]) == pytest.approx(0.3, abs=0.05)


@pytest.mark.slow
def test_monte_carlo_means_match_truth():
    """Over 30 seeds the estimators' means are within 3 Monte Carlo standard errors of the truth."""
    rows = []
    for seed in range(30):
        d = simulate_panel(seed=seed).data.assign(s2=lambda f: f["fintech_credit_share"] ** 2)
        rows.append([fe_slopes(d, "ln_loans_gdp", ["ln_dfi_index"])[0],
                     *fe_slopes(d, "ln_npl_ratio", ["fintech_credit_share", "s2"]),
                     fe_slopes(d, "ln_dfi_credit", ["ln_dfi_digitization"])[0],
                     did_att(d, [2015, 2017, 2019])])
    r = np.array(rows)
    t = simulate_panel(seed=0).truth["effects"]
    truth = np.array([t["H1"]["total"], t["H2"]["theta1"], t["H2"]["theta2"], t["H4"]["delta"], t["POLICY"]["att"]])
    se = r.std(axis=0, ddof=1) / np.sqrt(len(r))
    assert np.all(np.abs(r.mean(axis=0) - truth) < 3 * se + 1e-3), (r.mean(axis=0), truth, se)


@pytest.mark.slow
def test_spatial_durbin_and_threshold_recovered_by_fiproxy_estimators(sim):
    from fiproxy.estimators.spatial import spatial_panel
    from fiproxy.estimators.threshold import threshold

    codes, w = contiguity_matrix()
    W = pd.DataFrame(w, index=codes, columns=codes)
    h5 = sim.truth["effects"]["H5"]
    res = spatial_panel("ln_dfi_payment ~ ln_ecommerce_gdp | prov_code + year", sim.data, W, model="sdm", effects=False)
    params = res.params
    assert params.filter(like="rho").iloc[0] == pytest.approx(h5["rho"], abs=0.15)
    assert params["ln_ecommerce_gdp"] == pytest.approx(h5["beta"], abs=0.1)
    h3 = sim.truth["effects"]["H3"]
    d = sim.data.assign(**{f"y{y}": (sim.data["year"] == y).astype(float) for y in range(2012, 2024)})
    formula = "ln_dfi_breadth ~ " + " + ".join(f"y{y}" for y in range(2012, 2024)) + " | prov_code"
    th = threshold(formula, d, q="internet_penetration", regime="ln_dfi_index", time="year", bootstrap=0, trim=0.1)
    assert th.stats["th1"] == pytest.approx(h3["gamma"], abs=0.05)
    low, high = th.params.filter(like="ln_dfi_index").to_numpy()
    assert high - low == pytest.approx(h3["beta_high"] - h3["beta_low"], abs=0.03)
    assert low == pytest.approx(h3["beta_low"], abs=0.1) and high == pytest.approx(h3["beta_high"], abs=0.1)
