"""Reference, consistency and bad-input tests for fiproxy.gmm.

Reference values (abdata, Arellano and Bond 1991 UK company panel, 140 firms,
1976-1984, read from ../shared/data/abdata):

- Roodman, D. (2009). How to do xtabond2: An introduction to difference and
  system GMM in Stata. Stata Journal 9(1): 86-136. Section 3.3 prints the
  one-step difference GMM output that "exactly match[es] the one- and two-step
  results in Arellano and Bond (1991)" (Table 4, column a1), and a second one
  with wages and capital instrumented GMM-style; section 3.4 prints a one-step
  system GMM output (Blundell and Bond 1998 specification).
- StataCorp, [XT] xtabond manual, Example 4 (two-step, Windmeijer-corrected
  "WC-Robust" standard errors; the two-step estimates of Arellano and Bond 1991,
  Table 4, column a2, whose lagged-employment coefficient 0.629 Roodman 2009
  also quotes) and Example 1 (one-step, homoskedastic standard errors), values
  as printed in the manual to 7 decimals.

Stata's abdata stores n, w, k and ys as 4-byte floats; the fixture rounds the CSV
values to float32, which reproduces Stata's data (without it the estimates differ in
the sixth decimal). Stata prints coefficients and standard errors to 7 decimals, test
statistics to 2 and p-values to 3; tolerances follow: 1e-6 absolute for coefficients
and standard errors, 0.006 for statistics, 6e-4 for p-values. With xtabond2's
``small`` option the printed standard errors exceed fiproxy's by a constant factor
per model (1.00002 and 1.000008): the 2009 release's small-sample factor differs
from (n-1)/(n-k)·G/(G-1) in the fifth digit, so those are compared at rtol 3e-5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fiproxy.estimators.gmm import gmm

TOL_COEF = 1e-6
RTOL_SMALL = 3e-5
TOL_STAT = 0.006
TOL_P = 6e-4


@pytest.fixture(scope="module")
def abdata(shared_data):
    d = pd.read_csv(shared_data / "abdata" / "abdata.csv")
    for col in ("n", "w", "k", "ys"):
        d[col] = d[col].astype(np.float32).astype(float)
    return d


AB_EXOG = ["l(w, 0:1)", "l(k, 0:2)", "l(ys, 0:2)"]
AB_NAMES = ["l(n,1)", "l(n,2)", "w", "l(w,1)", "k", "l(k,1)", "l(k,2)", "ys", "l(ys,1)", "l(ys,2)"]


def _check(series: pd.Series, names: list[str], expected: list[float], tol: float, rtol: float = 0.0) -> None:
    got = series.loc[names].to_numpy()
    np.testing.assert_allclose(got, expected, atol=tol, rtol=rtol)


# --------------------------------------------------------------------------- references
@pytest.mark.realdata
def test_difference_gmm_one_step_robust_roodman_2009(abdata):
    """Roodman (2009) section 3.3: xtabond2 n L.n L2.n w L.w L(0/2).(k ys) yr*, gmm(L.n)
    iv(w L.w L(0/2).(k ys) yr*) nolevel robust = AB (1991) Table 4 col. a1 (robust s.e.)."""
    r = gmm(abdata, "n", panel=("id", "year"), lags=2, exog=AB_EXOG, steps=1)
    assert r.model == "gmm-difference"
    assert (r.nobs, r.stats["n_groups"], r.stats["n_instruments"]) == (611, 140, 41)
    _check(r.params, AB_NAMES, [.6862261, -.0853582, -.6078208, .3926237, .3568456, -.0580012,
                                -.0199475, .6085073, -.7111651, .1057969], TOL_COEF)
    _check(r.se, AB_NAMES, [.1445943, .0560155, .1782055, .1679931, .0590203, .0731797,
                            .0327126, .1725313, .2317163, .1412021], TOL_COEF)
    years = [f"year_{y}" for y in range(1978, 1984)]
    _check(r.params, years, [.0077033, .0172578, .0297185, -.004071, -.0193555, -.0136171], TOL_COEF)
    _check(r.se, years, [.0314106, .0290922, .0276617, .0298987, .0228436, .0188263], TOL_COEF)
    assert r.stats["dropped_regressors"] == ["year_1976", "year_1977", "year_1984"]
    st = r.stats
    assert st["wald"]["df"] == 16 and st["wald"]["stat"] == pytest.approx(1727.45, abs=TOL_STAT)
    assert st["ar1"]["z"] == pytest.approx(-3.60, abs=TOL_STAT)
    assert st["ar2"]["z"] == pytest.approx(-0.52, abs=TOL_STAT)
    assert st["ar2"]["p"] == pytest.approx(0.606, abs=TOL_P)
    assert st["sargan"]["df"] == 25 and st["sargan"]["stat"] == pytest.approx(67.59, abs=TOL_STAT)
    assert st["hansen_j"]["df"] == 25 and st["hansen_j"]["stat"] == pytest.approx(31.38, abs=TOL_STAT)
    assert st["hansen_j"]["p"] == pytest.approx(0.177, abs=TOL_P)
    dh = st["diff_hansen"]["iv, transformed equation"]
    assert (dh["excluding"]["df"], dh["difference"]["df"]) == (11, 14)
    assert dh["excluding"]["stat"] == pytest.approx(12.01, abs=TOL_STAT)
    assert dh["excluding"]["p"] == pytest.approx(0.363, abs=TOL_P)
    assert dh["difference"]["stat"] == pytest.approx(19.37, abs=TOL_STAT)
    assert dh["difference"]["p"] == pytest.approx(0.151, abs=TOL_P)


@pytest.mark.realdata
def test_difference_gmm_endogenous_small_roodman_2009(abdata):
    """Roodman (2009) section 3.3: gmm(L.(n w k)) iv(L(0/2).ys yr*) nolevel robust small
    (90 instruments): wages and capital instrumented GMM-style (endogenous)."""
    r = gmm(abdata, "n", panel=("id", "year"), lags=2, endogenous=["l(w, 0:1)", "l(k, 0:2)"],
            exog=["l(ys, 0:2)"], steps=1, small=True)
    assert (r.nobs, r.stats["n_instruments"]) == (611, 90)
    _check(r.params, AB_NAMES, [.8179867, -.1122756, -.6816685, .6557083, .3525689, -.1536626,
                                -.0304529, .6509498, -.9162028, .2786584], TOL_COEF)
    _check(r.se, AB_NAMES, [.0859761, .0502366, .1425813, .202368, .1217997, .0862928,
                            .0321355, .189582, .2639274, .1855286], 0.0, RTOL_SMALL)
    st = r.stats
    assert st["ar1"]["z"] == pytest.approx(-5.39, abs=TOL_STAT)
    assert st["ar2"]["z"] == pytest.approx(-0.78, abs=TOL_STAT)
    assert st["sargan"]["df"] == 74 and st["sargan"]["stat"] == pytest.approx(120.62, abs=TOL_STAT)
    assert st["hansen_j"]["stat"] == pytest.approx(73.72, abs=TOL_STAT)
    assert st["hansen_j"]["p"] == pytest.approx(0.487, abs=TOL_P)
    dh = st["diff_hansen"]["iv, transformed equation"]
    assert (dh["excluding"]["df"], dh["difference"]["df"]) == (65, 9)
    assert dh["excluding"]["stat"] == pytest.approx(56.99, abs=TOL_STAT)
    assert dh["difference"]["stat"] == pytest.approx(16.72, abs=TOL_STAT)


@pytest.mark.realdata
def test_system_gmm_one_step_roodman_2009(abdata):
    """Roodman (2009) section 3.4: xtabond2 n L.n L(0/1).(w k) yr*, gmmstyle(L.(w k n))
    ivstyle(yr*, equation(level)) robust small: one-step system GMM, 891 obs, 113 instruments.

    The printed Sargan statistic (186.90) divides the differenced residuals' sum of
    squares by the 891 levels observations when estimating σ²; fiproxy divides by the
    751 differenced observations that produced it, so its Sargan is 186.90 · 751/891.
    """
    r = gmm(abdata, "n", panel=("id", "year"), lags=1, endogenous=["l(w, 0:1)", "l(k, 0:1)"],
            system=True, steps=1, small=True)
    assert r.model == "gmm-system"
    assert (r.nobs, r.stats["n_groups"], r.stats["n_instruments"]) == (891, 140, 113)
    names = ["l(n,1)", "w", "l(w,1)", "k", "l(k,1)"] + [f"year_{y}" for y in range(1977, 1984)] + ["Intercept"]
    _check(r.params, names, [.9356053, -.6309761, .4826203, .4839299, -.4243928, -.0240573, -.0176523,
                             -.0026515, -.0173995, -.0435283, -.0096193, .0038132, .5522011], TOL_COEF)
    _check(r.se, names, [.026569, .1192834, .1383132, .0544281, .059088, .0296969, .0229277,
                         .0207492, .0221715, .0193348, .0186829, .0171959, .1971607], 0.0, RTOL_SMALL)
    ci = r.conf_int().loc["l(n,1)"]  # t(139) reference
    assert (ci["lower"], ci["upper"]) == pytest.approx((.8830737, .9881369), abs=1e-5)
    st = r.stats
    assert st["ar1"]["z"] == pytest.approx(-5.46, abs=TOL_STAT)
    assert st["ar2"]["z"] == pytest.approx(-0.25, abs=TOL_STAT)
    assert st["ar2"]["p"] == pytest.approx(0.804, abs=TOL_P)
    assert st["hansen_j"]["df"] == 100 and st["hansen_j"]["stat"] == pytest.approx(110.70, abs=TOL_STAT)
    assert st["hansen_j"]["p"] == pytest.approx(0.218, abs=TOL_P)
    assert st["sargan"]["stat"] * 891 / 751 == pytest.approx(186.90, abs=TOL_STAT)
    lev = st["diff_hansen"]["GMM instruments for levels"]
    assert (lev["excluding"]["df"], lev["difference"]["df"]) == (79, 21)
    assert lev["excluding"]["stat"] == pytest.approx(84.33, abs=TOL_STAT)
    assert lev["difference"]["stat"] == pytest.approx(26.37, abs=TOL_STAT)
    assert lev["difference"]["p"] == pytest.approx(0.193, abs=TOL_P)
    iv = st["diff_hansen"]["iv, levels equation"]
    assert (iv["excluding"]["df"], iv["difference"]["df"]) == (93, 7)
    assert iv["excluding"]["stat"] == pytest.approx(107.79, abs=TOL_STAT)
    assert iv["difference"]["stat"] == pytest.approx(2.91, abs=TOL_STAT)
    assert iv["difference"]["p"] == pytest.approx(0.893, abs=TOL_P)


@pytest.mark.realdata
def test_difference_gmm_two_step_windmeijer_xtabond_example4(abdata):
    """[XT] xtabond Example 4: xtabond n l(0/1).w l(0/2).(k ys) yr1980-yr1984 year, lags(2)
    twostep vce(robust) noconstant: two-step estimates (AB 1991 Table 4 col. a2) with
    Windmeijer-corrected standard errors."""
    r = gmm(abdata, "n", panel=("id", "year"), lags=2, exog=AB_EXOG, steps=2)
    assert r.vcov_type.startswith("two-step, Windmeijer")
    _check(r.params, AB_NAMES, [.6287089, -.0651882, -.5257597, .3112899, .2783619, .0140994,
                                -.0402484, .5919243, -.5659863, .1005433], TOL_COEF)
    _check(r.se, AB_NAMES, [.1934138, .0450501, .1546107, .2030006, .0728019, .0924575,
                            .0432745, .1730916, .2611008, .1610987], TOL_COEF)
    assert r.params["l(n,1)"] == pytest.approx(0.629, abs=5e-4)  # AB (1991) Table 4 a2, via Roodman (2009)


@pytest.mark.realdata
def test_difference_gmm_one_step_iid_xtabond_example1(abdata):
    """[XT] xtabond Example 1 (homoskedastic one-step standard errors). Stata estimates σ²
    with n - k degrees of freedom, which is what small=True does for one-step i.i.d. errors."""
    r = gmm(abdata, "n", panel=("id", "year"), lags=2, exog=AB_EXOG, steps=1, robust=False, small=True)
    _check(r.se, AB_NAMES, [.1486163, .0444365, .0657694, .1092374, .0370314, .0583051,
                            .0416274, .1345412, .1844599, .1428568], TOL_COEF)
    plain = gmm(abdata, "n", panel=("id", "year"), lags=2, exog=AB_EXOG, steps=1, robust=False)
    ratio = (plain.se / r.se).to_numpy()
    np.testing.assert_allclose(ratio, np.sqrt((611 - 16) / 611), rtol=1e-10)


# --------------------------------------------------------------------------- consistency
def _ar1_panel(n: int, t: int, alpha: float = 0.5, seed: int = 0, burn: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    eta = rng.normal(size=n)
    y = eta / (1 - alpha) + rng.normal(size=n) / np.sqrt(1 - alpha**2)
    out = np.empty((n, t))
    for s in range(-burn, t):
        y = alpha * y + eta + rng.normal(size=n)
        if s >= 0:
            out[:, s] = y
    return pd.DataFrame({"i": np.repeat(np.arange(n), t), "t": np.tile(np.arange(2000, 2000 + t), n),
                         "y": out.ravel()})


def test_fd_and_fod_coincide_on_balanced_panel():
    """Arellano and Bover (1995): with the full set of lagged-level instruments on a balanced
    panel, first-difference GMM (H = the 2/-1 band) and orthogonal-deviations GMM (H = I)
    give the same one-step estimate; the two-step estimates coincide as well."""
    df = _ar1_panel(150, 6, seed=3)
    for steps in (1, 2):
        a = gmm(df, "y", panel=("i", "t"), time_dummies=False, steps=steps, transform="fd")
        b = gmm(df, "y", panel=("i", "t"), time_dummies=False, steps=steps, transform="fod")
        np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
        np.testing.assert_allclose(a.se, b.se, rtol=1e-8)


def test_instrument_counts_and_collapse():
    """T = 6 periods, AR(1): uncollapsed lags 2.. give 1+2+3+4 = 10 columns, collapsed 4;
    system GMM adds one levels column per period 3..6 (4) or one collapsed column, plus the
    constant; max_lags=2 keeps only lag 2."""
    df = _ar1_panel(100, 6, seed=1)
    kw = dict(panel=("i", "t"), time_dummies=False)
    assert gmm(df, "y", **kw).stats["n_instruments"] == 10
    assert gmm(df, "y", collapse=True, **kw).stats["n_instruments"] == 4
    assert gmm(df, "y", system=True, **kw).stats["n_instruments"] == 10 + 4 + 1
    assert gmm(df, "y", system=True, collapse=True, **kw).stats["n_instruments"] == 4 + 1 + 1
    assert gmm(df, "y", max_lags=2, **kw).stats["n_instruments"] == 4


def test_system_gmm_two_step_recovers_ar_coefficient():
    df = _ar1_panel(2000, 6, alpha=0.5, seed=7)
    r = gmm(df, "y", panel=("i", "t"), system=True, steps=2)
    assert abs(r.params["l(y,1)"] - 0.5) < 3 * r.se["l(y,1)"]
    assert r.stats["ar1"]["z"] < -5 and r.stats["ar2"]["p"] > 0.01
    assert r.stats["hansen_j"]["p"] > 0.01


def test_windmeijer_changes_only_the_covariance():
    df = _ar1_panel(300, 6, seed=2)
    a = gmm(df, "y", panel=("i", "t"), steps=2)
    b = gmm(df, "y", panel=("i", "t"), steps=2, windmeijer=False)
    pd.testing.assert_series_equal(a.params, b.params)
    assert (a.se > b.se).all()  # the correction enlarges the downward-biased two-step s.e.


# --------------------------------------------------------------------------- bad input
def test_unknown_column_lists_close_matches():
    df = _ar1_panel(50, 5)
    df["wage"] = 1.0
    with pytest.raises(KeyError, match="'wag'.*close matches: 'wage'"):
        gmm(df, "y", panel=("i", "t"), exog=["l(wag, 0:1)"])
    with pytest.raises(KeyError, match="'yy'.*'y'"):
        gmm(df, "yy", panel=("i", "t"))


def test_duplicate_period_is_an_error():
    df = _ar1_panel(20, 5)
    with pytest.raises(ValueError, match="duplicate"):
        gmm(pd.concat([df, df.iloc[[3]]]), "y", panel=("i", "t"))


def test_gaps_warn_and_name_the_consequence():
    """Dropping interior years removes first differences and lags across the gap: the
    warning says so and forward orthogonal deviations keep more observations."""
    df = _ar1_panel(200, 8, seed=4)
    gappy = df[~((df["i"] % 4 == 0) & (df["t"] == 2004))]
    fd = gmm(gappy, "y", panel=("i", "t"), steps=1)
    msg = " ".join(fd.warnings)
    assert "gaps: 50 groups miss 50 interior periods" in msg
    assert "drop out of the differenced equation" in msg
    fod = gmm(gappy, "y", panel=("i", "t"), steps=1, transform="fod")
    assert fod.stats["n_obs_transformed"] > fd.stats["n_obs_transformed"]


def test_no_usable_lags_is_an_error():
    """Observed in pairs of years with a gap after each pair: a first difference of a
    row that has its lag needs three consecutive years, which no group has."""
    df = _ar1_panel(30, 9)
    with pytest.raises(ValueError, match="no observation has what the transformed equation needs"):
        gmm(df[(df["t"] - 2000) % 3 != 2], "y", panel=("i", "t"), time_dummies=False)


def test_instruments_outnumbering_observations_is_an_error():
    df = _ar1_panel(3, 9, seed=5)  # 28 lag instruments for 3 x 7 = 21 differenced observations
    with pytest.raises(ValueError, match="28 instruments for 21 observations.*collapse=True"):
        gmm(df, "y", panel=("i", "t"), time_dummies=False)


def test_instruments_outnumbering_groups_warns():
    df = _ar1_panel(12, 9, seed=6)
    r = gmm(df, "y", panel=("i", "t"), time_dummies=False, steps=2)
    assert any("instruments exceed the 12 groups" in w and "Hansen test is weakened" in w for w in r.warnings)
    assert not gmm(df, "y", panel=("i", "t"), time_dummies=False, collapse=True).warnings


@pytest.mark.parametrize("kwargs, match", [
    (dict(transform="levels"), "transform must be"),
    (dict(steps=3), "steps must be 1 or 2"),
    (dict(exog=["x"], predetermined=["x"]), "both as exogenous and as predetermined"),
    (dict(exog=["l(x, 2:1)"]), "0 <= a <= b"),
    (dict(predetermined={"x": (3, 1)}), "last lag 1 is below first lag 3"),
    (dict(iv_equation="levels"), "needs system=True"),
    (dict(lags=0, time_dummies=False), "no regressors"),
])
def test_argument_errors(kwargs, match):
    df = _ar1_panel(40, 6)
    df["x"] = np.random.default_rng(0).normal(size=len(df))
    with pytest.raises(ValueError, match=match):
        gmm(df, "y", panel=("i", "t"), **kwargs)


def test_non_integer_time_is_an_error():
    df = _ar1_panel(20, 5)
    df["t"] = df["t"] + 0.5 * (df["i"] % 2)
    with pytest.raises(ValueError, match="integer periods"):
        gmm(df, "y", panel=("i", "t"))


def test_non_numeric_column_is_an_error():
    df = _ar1_panel(20, 5)
    df["x"] = "a"
    with pytest.raises(TypeError, match="column 'x' must be numeric"):
        gmm(df, "y", panel=("i", "t"), exog=["x"])
