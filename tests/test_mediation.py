"""fiproxy.mediation: equation estimates vs twfe, joint covariance vs a stacked twfe regression,
wild-bootstrap draws vs explicit refits, simulated truth, Monte Carlo coverage, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fiproxy
from fiproxy.data import simulate_panel
from fiproxy.estimators.design import DesignError
from fiproxy.estimators.inference.bootstrap_weights import bootstrap_draws
from fiproxy.estimators.inference.vcov import VcovError

T, M, Y = "ln_dfi_index", "ln_dfi_digitization", "ln_loans_gdp"


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return simulate_panel(seed=11).data


def test_paths_equal_twfe_and_identity(panel):
    """a, b, c', c and their SEs equal the twfe fits (1e-10); c = c' + a b on the common sample."""
    r = fiproxy.mediation(panel, T, M, Y, controls=["ln_gdp_pc"])
    cl = {"CRV1": "prov_code"}
    fm = fiproxy.twfe(f"{M} ~ {T} + ln_gdp_pc | prov_code + year", panel, vcov=cl)
    fy = fiproxy.twfe(f"{Y} ~ {T} + {M} + ln_gdp_pc | prov_code + year", panel, vcov=cl)
    ft = fiproxy.twfe(f"{Y} ~ {T} + ln_gdp_pc | prov_code + year", panel, vcov=cl)
    for name, fit, coef in [("a", fm, T), ("b", fy, M), ("direct", fy, T), ("total", ft, T)]:
        assert r.params[name] == pytest.approx(fit.params[coef], rel=1e-10)
        assert r.se[name] == pytest.approx(fit.se[coef], rel=1e-10)
    assert r.params["indirect"] == pytest.approx(r.params["a"] * r.params["b"], rel=1e-12)
    assert abs(r.stats["total_identity_gap"]) < 1e-12
    assert r.df_t == 30


@pytest.mark.parametrize("vcov", [{"CRV1": "prov_code"}, "HC1"])
def test_joint_covariance_matches_stacked_regression(panel, vcov):
    """Correlation of (a, b, c') equals that of the stacked regression with equation-specific
    slopes and fixed effects (one small-sample factor there, one per equation here: the
    correlations are free of it); heteroskedasticity-robust = clustered by observation in the
    stacked data. Sobel SE = sqrt(b^2 Va + a^2 Vb + 2ab Cab)."""
    r = fiproxy.mediation(panel, T, M, Y, vcov=vcov)
    panel = panel.assign(obs=np.arange(len(panel)))
    long = pd.concat([
        panel.assign(eq="m", yy=panel[M], xm=panel[T], xy=0.0, xb=0.0),
        panel.assign(eq="y", yy=panel[Y], xm=0.0, xy=panel[T], xb=panel[M]),
    ], ignore_index=True)
    s = fiproxy.twfe("yy ~ xm + xy + xb | prov_code^eq + year^eq", long,
                     vcov=vcov if vcov != "HC1" else {"CRV1": "obs"})
    Vs = s.vcov.loc[["xm", "xb", "xy"], ["xm", "xb", "xy"]].to_numpy()
    Vm = r.vcov.loc[["a", "b", "direct"], ["a", "b", "direct"]].to_numpy()
    corr = lambda V: V / np.sqrt(np.outer(np.diag(V), np.diag(V)))  # noqa: E731
    np.testing.assert_allclose(corr(Vm), corr(Vs), atol=1e-10)
    a, b = r.params["a"], r.params["b"]
    Va, Vb, Cab = Vm[0, 0], Vm[1, 1], Vm[0, 1]
    assert r.se["indirect"] == pytest.approx(np.sqrt(b * b * Va + a * a * Vb + 2 * a * b * Cab), rel=1e-12)


def test_wild_draws_equal_explicit_refits(panel):
    """A wild-bootstrap draw equals refitting twfe on y* = fitted + s * residual * v_g (all equations),
    s = sqrt(G/(G-1) (n-1)/(n-K)), K = slopes + absorbed fixed effects."""
    B, seed = 3, 7
    r = fiproxy.mediation(panel, T, M, Y, bootstrap="wild", B=B, seed=seed, wild_weights="webb")
    draws = r.extra["bootstrap"]["wild"]
    codes = pd.factorize(panel["prov_code"])[0]
    V, _ = bootstrap_draws("webb", int(codes.max()) + 1, B, seed, full_enumeration=False)
    cl = {"CRV1": "prov_code"}
    for j in range(B):
        v = V[j][codes]
        fits = {}
        for key, f, dep in [("m", f"{M} ~ {T} | prov_code + year", M), ("y", f"{Y} ~ {T} + {M} | prov_code + year", Y),
                            ("t", f"{Y} ~ {T} | prov_code + year", Y)]:
            base = fiproxy.twfe(f, panel, vcov=cl)
            d = base.extra["design"]
            n, G = d.nobs, 31
            s = np.sqrt(G / (G - 1) * (n - 1) / (n - d.k - d.df_fe))
            ystar = (d.y_raw - d.resid) + s * d.resid * v
            fits[key] = fiproxy.twfe(f.replace(dep, "ystar", 1), panel.assign(ystar=ystar), vcov=cl).params
        assert draws.loc[j, "a"] == pytest.approx(fits["m"][T], rel=1e-9)
        assert draws.loc[j, "b"] == pytest.approx(fits["y"][M], rel=1e-9)
        assert draws.loc[j, "indirect"] == pytest.approx(fits["m"][T] * fits["y"][M], rel=1e-9)
        assert draws.loc[j, "total"] == pytest.approx(fits["t"][T], rel=1e-9)


def test_pairs_bootstrap_reproducible_and_sensible(panel):
    r1 = fiproxy.mediation(panel, T, M, Y, bootstrap="pairs", B=99, seed=3)
    r2 = fiproxy.mediation(panel, T, M, Y, bootstrap="pairs", B=99, seed=3, n_jobs=2)
    pd.testing.assert_frame_equal(r1.extra["bootstrap"]["pairs"], r2.extra["bootstrap"]["pairs"])
    d = r1.extra["bootstrap"]["pairs"]
    assert len(d) == 99 and r1.stats["pairs_failed_draws"] == 0
    # the bootstrap SD of the indirect effect is of the order of the delta-method SE
    assert 0.5 < d["indirect"].std() / r1.se["indirect"] < 2.0
    lo, hi = r1.extra["ci"]["pairs"].loc["indirect"]
    assert lo < r1.params["indirect"] < hi


def test_several_mediators(panel):
    r = fiproxy.mediation(panel, T, [M, "ln_dfi_credit"], Y, vcov="HC1")
    assert r.params["indirect"] == pytest.approx(r.params[f"indirect[{M}]"] + r.params["indirect[ln_dfi_credit]"])
    fy = fiproxy.twfe(f"{Y} ~ {T} + {M} + ln_dfi_credit | prov_code + year", panel, vcov="HC1")
    assert r.params["b[ln_dfi_credit]"] == pytest.approx(fy.params["ln_dfi_credit"], rel=1e-10)
    assert r.se["b[ln_dfi_credit]"] == pytest.approx(fy.se["ln_dfi_credit"], rel=1e-10)


def test_simulated_truth_recovered():
    """Default simulated panel (H1 truth: a 0.6, b 0.25, direct 0.15, indirect 0.15, total 0.30):
    each estimate within 3 cluster-robust SEs of the truth (sampling error only)."""
    p = simulate_panel()
    h = p.truth["effects"]["H1"]
    r = fiproxy.mediation(p.data, h["treatment"], h["mediator"], h["outcome"])
    for name in ("a", "b", "direct", "indirect", "total"):
        assert abs(r.params[name] - h[name]) < 3 * r.se[name], (name, r.params[name], r.se[name])


def _mc_panel(rng, G=40, Tn=10, a=0.5, b=0.4, c=0.2):
    unit = np.repeat(np.arange(G), Tn)
    year = np.tile(np.arange(Tn), G)
    ua = rng.standard_normal(G)[unit]
    x = ua + rng.standard_normal(G * Tn) + 0.5 * rng.standard_normal(G)[unit] * np.sin(year)
    em = rng.standard_normal(G * Tn) + 0.5 * rng.standard_normal(G)[unit]  # clustered errors
    ey = rng.standard_normal(G * Tn) + 0.5 * rng.standard_normal(G)[unit]
    m = a * x + ua + em
    y = c * x + b * m + 2 * ua + ey
    return pd.DataFrame({"prov_code": unit, "year": year, "x": x, "m": m, "y": y})


def _coverage(reps, seed, bootstrap="none", B=199):
    rng = np.random.default_rng(seed)
    hit_delta = hit_wild = 0
    for _ in range(reps):
        df = _mc_panel(rng)
        r = fiproxy.mediation(df, "x", "m", "y", bootstrap=bootstrap, B=B, seed=int(rng.integers(1 << 31)))
        lo, hi = r.extra["ci"]["delta"].loc["indirect", ["lower", "upper"]]
        hit_delta += lo <= 0.2 <= hi
        if bootstrap == "wild":
            lo, hi = r.extra["ci"]["wild"].loc["indirect"]
            hit_wild += lo <= 0.2 <= hi
    return hit_delta / reps, hit_wild / reps


def test_monte_carlo_coverage_fast():
    """Known a*b = 0.2, 40 clusters x 10 periods, clustered errors: 150 replications, Sobel 95%
    coverage within [0.89, 0.995] (Monte Carlo SE ~0.018 at 0.95; loose band for speed)."""
    cov, _ = _coverage(150, 2024)
    assert 0.89 <= cov <= 0.995, cov


@pytest.mark.slow
def test_monte_carlo_coverage_slow():
    """1,000 replications: Sobel and wild-bootstrap (Webb, B=199) percentile 95% intervals cover
    a*b = 0.2 in [0.93, 0.97] (Monte Carlo SE ~0.007)."""
    cov_d, cov_w = _coverage(1000, 99, bootstrap="wild", B=199)
    assert 0.93 <= cov_d <= 0.97, cov_d
    assert 0.93 <= cov_w <= 0.97, cov_w


# ---------------------------------------------------------------------------- bad input
def test_bad_input(panel):
    with pytest.raises(DesignError, match="did you mean"):
        fiproxy.mediation(panel, T, "ln_dfi_digitisation", Y)
    bad = panel.assign(cl=panel["prov_code"].astype(float))
    bad.loc[3, "cl"] = np.nan
    with pytest.raises(VcovError, match="missing value"):
        fiproxy.mediation(bad, T, M, Y, vcov={"CRV1": "cl"})
    with pytest.raises(VcovError, match="single cluster"):
        fiproxy.mediation(panel.assign(one=1), T, M, Y, vcov={"CRV1": "one"})
    with pytest.raises(DesignError, match="collinear"):
        fiproxy.mediation(panel.assign(m2=2 * panel[T]), T, "m2", Y)
    with pytest.raises(DesignError, match="not numeric"):
        fiproxy.mediation(panel.assign(mm="x"), T, "mm", Y)
    with pytest.raises(DesignError, match="different columns"):
        fiproxy.mediation(panel, T, T, Y)
    with pytest.raises(ValueError, match="bootstrap"):
        fiproxy.mediation(panel, T, M, Y, bootstrap="jackknife")
    with pytest.raises(VcovError, match="not HC3"):
        fiproxy.mediation(panel, T, M, Y, vcov="HC3")
