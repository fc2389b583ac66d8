"""Specification curve: every specification equals fiproxy.twfe, joint test, back ends, bad input."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from fiproxy.estimators.spec_curve import SpecCurveWarning, spec_curve
from fiproxy.estimators.spec_curve_joint import curve_statistics
from fiproxy.estimators.twfe import twfe

OUTCOMES = ["ln_loans_gdp", "bank_outlets_pc", "ln_dfi_breadth", "ln_ecommerce_gdp"]
TREATMENTS = ["ln_dfi_index", "ln_dfi_digitization", "ln_dfi_payment", "ln_dfi_credit", "log(dfi_index)"]
CONTROLS = [[], ["ln_gdp_pc"], ["ln_gdp_pc", "secondary_share"], ["ln_gdp_pc", "secondary_share", "fiscal_gdp"],
            ["ln_gdp_pc", "secondary_share", "fiscal_gdp", "marketization"]]
FES = [["prov_code", "year"], ["prov_code"], "year", []]
SAMPLES = {"all": None, "post2013": "year >= 2014", "pre2020": "year < 2020", "no_beijing": "prov_code != 11",
           "inland": "prov_code > 40"}
VCOVS = [{"CRV1": "prov_code"}, "HC1", {"DK": 2}, "iid"]


@pytest.fixture(scope="module")
def panel():
    from fiproxy.data import simulate_panel

    return simulate_panel(seed=11).data


def _twfe_of(row, data, samples, vcovs):
    rule = samples[row["sample"]]
    sub = data if rule is None else (data.query(rule) if isinstance(rule, str) else data[rule])
    from fiproxy.estimators.spec_curve import _vcov_label
    v = vcovs[[_vcov_label(x) for x in vcovs].index(row["vcov"])]
    return twfe(row["formula"], sub, vcov=v)


def _check_against_twfe(res, data, samples, vcovs, n, seed=0):
    rng = np.random.default_rng(seed)
    ok = res.ok
    for i in rng.choice(len(ok), size=min(n, len(ok)), replace=False):
        row = ok.iloc[i]
        ref = _twfe_of(row, data, samples, vcovs)
        name = ref.params.index[list(ref.params.index).index(row["treatment"])] if row["treatment"] in \
            ref.params.index else ref.params.index[int(ref.params.index[0] == "Intercept")]
        ci = ref.conf_int(res.level).loc[name]
        # tolerance 1e-10: the same demeaning, least squares and covariance code path
        assert row["estimate"] == pytest.approx(ref.params[name], abs=1e-10, rel=1e-10)
        assert row["se"] == pytest.approx(ref.se[name], abs=1e-10, rel=1e-10)
        assert row["p"] == pytest.approx(ref.pvalue[name], abs=1e-10)
        assert row["ci_low"] == pytest.approx(ci.iloc[0], abs=1e-10, rel=1e-10)
        assert row["ci_high"] == pytest.approx(ci.iloc[1], abs=1e-10, rel=1e-10)
        assert row["nobs"] == ref.nobs
        assert row["df_t"] == ref.df_t


def test_1000_specifications_equal_twfe_and_finish_fast(panel):
    t0 = time.perf_counter()
    res = spec_curve(panel, OUTCOMES, TREATMENTS, CONTROLS, FES[:2], SAMPLES, VCOVS[:2])
    secs = time.perf_counter() - t0
    assert len(res.specs) == 4 * 5 * 5 * 2 * 5 * 2 == 2000  # 1,000 fits x 2 covariances
    assert secs < 30, f"1,000 fits took {secs:.1f} s"
    assert res.failed.empty
    _check_against_twfe(res, panel, SAMPLES, VCOVS[:2], n=40)
    # enumeration order: outcome, treatment, controls, fe, sample, vcov
    first = res.specs.iloc[:3]
    assert list(first["vcov"]) == ["CRV1: prov_code", "HC1", "CRV1: prov_code"]
    assert list(first["sample"]) == ["all", "all", "post2013"]


def test_fixed_effect_variants_covariances_weights_and_masks_equal_twfe(panel):
    data = panel.assign(w=np.linspace(0.5, 2.0, len(panel)), region=(panel["prov_code"] // 10))
    samples = {"all": None, "mask": data["year"] % 2 == 0, "coastal": "prov_code in [11, 12, 31, 32, 33, 35, 44]"}
    fes = {"two-way": ["prov_code", "year"], "region-year": ["prov_code", "region^year"], "none": []}
    vcovs = [{"CRV1": "prov_code"}, {"CRV1": "prov_code+year", "fix_psd": True}, "HC3", {"DK": 1}, {"CRV3": "prov_code"}]
    res = spec_curve(data, OUTCOMES[:2], TREATMENTS[:2], CONTROLS[:3:2], fes, samples, vcovs, weights="w")
    assert res.failed.empty
    _check_against_twfe_weighted(res, data, samples, vcovs)


def _check_against_twfe_weighted(res, data, samples, vcovs):
    from fiproxy.estimators.spec_curve import _vcov_label
    for _, row in res.specs.iloc[::7].iterrows():
        rule = samples[row["sample"]]
        sub = data if rule is None else (data.query(rule) if isinstance(rule, str) else data[rule])
        v = vcovs[[_vcov_label(x) for x in vcovs].index(row["vcov"])]
        ref = twfe(row["formula"], sub, vcov=v, weights="w")
        assert row["estimate"] == pytest.approx(ref.params[row["treatment"]], abs=1e-10, rel=1e-10)
        assert row["se"] == pytest.approx(ref.se[row["treatment"]], abs=1e-10, rel=1e-10)
        assert row["nobs"] == ref.nobs


def test_missing_values_and_lags_give_each_spec_its_own_sample(panel):
    data = panel.copy()
    data.loc[data.index[::9], "fiscal_gdp"] = np.nan
    res = spec_curve(data, ["ln_loans_gdp"], ["ln_dfi_index", "l(ln_dfi_index, 1)"],
                     [[], ["fiscal_gdp"]], [["prov_code", "year"]], vcov=[{"CRV1": "prov_code"}])
    nobs = res.specs.set_index(["treatment", "controls"])["nobs"]
    assert nobs[("ln_dfi_index", "none")] == len(data)
    assert nobs[("ln_dfi_index", "fiscal_gdp")] < len(data)
    assert nobs[("l(ln_dfi_index, 1)", "none")] == len(data) - 31
    _check_against_twfe(res, data, {"all": None}, [{"CRV1": "prov_code"}], n=4)


def test_summary_shares_and_median(panel):
    res = spec_curve(panel, OUTCOMES[:2], TREATMENTS[:3], CONTROLS[:2], FES[:2], vcov=["HC1"])
    ok = res.ok
    sig = ok["p"] < 0.05
    assert res.median_estimate == pytest.approx(np.median(ok["estimate"]))
    assert res.share_significant == pytest.approx(sig.mean())
    assert res.share_positive == pytest.approx((sig & (ok["estimate"] > 0)).mean())
    assert res.share_negative == pytest.approx((sig & (ok["estimate"] < 0)).mean())
    curve = res.curve()
    assert curve["estimate"].is_monotonic_increasing and list(curve["rank"]) == list(range(1, len(curve) + 1))
    assert "median estimate" in res.summary()
    assert res.to_frame().equals(res.specs)


def test_curve_statistics_by_hand():
    est = np.array([0.5, -0.2, 0.3, np.nan])
    p = np.array([0.01, 0.04, 0.5, 0.2])
    med, share, z = curve_statistics(est, p, 0.05, 1.0)
    assert med == pytest.approx(0.3)
    assert share == pytest.approx(1 / 3)  # only the positive significant one counts
    from scipy.stats import norm
    zs = [norm.isf(0.005), -norm.isf(0.02), norm.isf(0.25)]
    assert z == pytest.approx(sum(zs) / np.sqrt(3))


def test_joint_test_rejects_a_strong_effect_and_not_a_null_one(panel):
    rng = np.random.default_rng(5)
    data = panel.assign(noise_y=rng.normal(size=len(panel)), noise_y2=rng.normal(size=len(panel)))
    data["strong_y"] = 0.5 * data["ln_dfi_index"] + 0.1 * data["noise_y"]
    strong = spec_curve(data, ["strong_y"], ["ln_dfi_index", "ln_dfi_digitization"], CONTROLS[:2],
                        [["prov_code", "year"]], vcov=[{"CRV1": "prov_code"}], B=49, seed=1)
    assert (strong.joint["p_value"] == 0).all()
    null = spec_curve(data, ["noise_y", "noise_y2"], ["ln_dfi_index", "ln_dfi_payment"], CONTROLS[:2],
                      [["prov_code", "year"]], vcov=[{"CRV1": "prov_code"}], B=49, seed=1)
    assert (null.joint["p_value"] > 0.05).all()
    assert null.joint["B"].iloc[0] == 49
    # the null distribution of the median estimate is centred near zero (well within one standard error)
    assert abs(null.joint.loc["median estimate", "null_mean"]) < 0.5 * null.ok["se"].median()


def test_backends_give_bit_identical_results(panel):
    from distributed import Client, LocalCluster

    args = (panel, OUTCOMES[:2], TREATMENTS[:2], CONTROLS[:2], FES[:2], {"all": None, "late": "year > 2015"},
            [{"CRV1": "prov_code"}, "HC1"])
    ref = spec_curve(*args, B=12, seed=3)
    other = [spec_curve(*args, B=12, seed=3, backend="processes", n_workers=2)]
    # in-process Dask workers (threads) keep the test fast; worker processes are covered by "processes"
    # here and by the LocalCluster test of tests/test_parallel.py
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        other.append(spec_curve(*args, B=12, seed=3, backend=client))
    cols = ["estimate", "se", "p", "ci_low", "ci_high"]
    for res in other:
        assert np.array_equal(res.specs[cols].to_numpy(), ref.specs[cols].to_numpy())
        assert np.array_equal(res.joint.attrs["draws"], ref.joint.attrs["draws"])
        assert res.joint.equals(ref.joint)
    assert other[1].info["backend"] == "dask"


def test_failed_specifications_are_reported(panel):
    data = panel.assign(const_in_prov=panel["prov_code"] * 0.1)
    with pytest.warns(SpecCurveWarning, match="could not be estimated"):
        res = spec_curve(data, ["ln_loans_gdp"], ["ln_dfi_index", "const_in_prov"], [[]],
                         [["prov_code", "year"]], vcov=["HC1"])
    assert len(res.failed) == 1
    assert "collinear" in res.failed["error"].iloc[0]
    assert res.ok["treatment"].tolist() == ["ln_dfi_index"]


def test_bad_input_errors(panel):
    with pytest.raises(ValueError, match="did you mean 'ln_loans_gdp'"):
        spec_curve(panel, ["ln_loan_gdp"], ["ln_dfi_index"])
    with pytest.raises(ValueError, match="sample 'bad': cannot evaluate"):
        spec_curve(panel, ["ln_loans_gdp"], ["ln_dfi_index"], samples={"bad": "yeer > 2015"})
    with pytest.raises(ValueError, match="selects no rows"):
        spec_curve(panel, ["ln_loans_gdp"], ["ln_dfi_index"], samples={"none": "year > 3000"})
    with pytest.raises(ValueError, match="categorical"):
        spec_curve(panel, ["ln_loans_gdp"], ["ln_dfi_index"], [["C(year)"]], [["prov_code"]])
    with pytest.raises(ValueError, match="unknown covariance"):
        spec_curve(panel, ["ln_loans_gdp"], ["ln_dfi_index"], vcov=["HC9"])
    with pytest.raises(ValueError, match="appears twice"):
        spec_curve(panel, ["ln_loans_gdp"], ["ln_dfi_index", "ln_dfi_index"])
    with pytest.raises(ValueError, match="B must be"):
        spec_curve(panel, ["ln_loans_gdp"], ["ln_dfi_index"], B=-1)
    with pytest.raises(ValueError, match="boot_cluster"):
        spec_curve(panel.drop(columns="prov_code").assign(u=1), ["ln_loans_gdp"], ["ln_dfi_index"],
                   fixed_effects=[["year"]], B=5, boot_cluster="u")


def test_plot_writes_a_figure(panel, tmp_path):
    res = spec_curve(panel, OUTCOMES[:2], TREATMENTS[:3], CONTROLS[:2], FES[:2], vcov=["HC1"])
    out = tmp_path / "curve.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = res.plot(out)
    assert out.stat().st_size > 10_000
    top, dash = fig.axes
    assert len(dash.get_yticklabels()) == 2 + 3 + 2 + 2  # outcomes, treatments, controls, FE
    assert top.collections  # points and intervals drawn
    with pytest.raises(ValueError, match="unknown dimension"):
        res.plot(dimensions=["colour"])
