"""Reference tests of ``fiproxy.twfe`` against published numbers, linearmodels and pyfixest.

Tolerances: coefficients to 1e-8 (absolute), standard errors to 1e-6 (relative)
against pyfixest on random panels (its fixed-effect tolerance tightened to 1e-12
so that the comparison measures the estimators, not the stopping rules);
Grunfeld slopes to the 6 published decimals. linearmodels' AbsorbingLS matches with
``debiased=True`` (it then also counts the absorbed levels in K).

Degrees-of-freedom conventions: fiproxy follows fixest (see
``fiproxy.estimators.inference.vcov``). For iid and HC1 they coincide with
linearmodels' ``PanelOLS`` (``K`` counts all absorbed fixed effects), which is
tested to 1e-6. For clustered covariances linearmodels (``debiased=True,
group_debias=True``) uses ``(n-1)/(n-k)`` with ``k`` the slopes only under one
effect, whereas fixest does not count fixed effects nested in the cluster but
adds one per nested effect: ``(n-1)/(n-k-1)``. The test converts between the
two with that factor, so a change of either convention fails it.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import fiproxy

pf = pytest.importorskip("pyfixest")
lm = pytest.importorskip("linearmodels")


@pytest.fixture(scope="module")
def grunfeld():
    d = sm.datasets.grunfeld.load_pandas().data
    d = d[d.firm != "American Steel"].copy()  # the 10-firm panel of the textbooks
    d["year"] = d["year"].astype(int)
    return d


def test_grunfeld_within_slopes(grunfeld):
    r = fiproxy.twfe("invest ~ value + capital | firm", grunfeld)
    assert r.nobs == 200
    assert r.params["value"] == pytest.approx(0.110124, abs=5e-7)
    assert r.params["capital"] == pytest.approx(0.310065, abs=5e-7)
    assert r.model == "twfe"
    assert r.spec["fe"] == ["firm"]


@pytest.mark.parametrize("effects, fe", [("EntityEffects", "firm"), ("EntityEffects + TimeEffects", "firm + year")])
@pytest.mark.parametrize("cov, ours", [("unadjusted", "iid"), ("robust", "HC1")])
def test_grunfeld_vs_panelols(grunfeld, effects, fe, cov, ours):
    from linearmodels import PanelOLS

    p = grunfeld.set_index(["firm", "year"])
    ref = PanelOLS.from_formula(f"invest ~ value + capital + {effects}", p).fit(cov_type=cov)
    r = fiproxy.twfe(f"invest ~ value + capital | {fe}", grunfeld, vcov=ours)
    np.testing.assert_allclose(r.params.to_numpy(), ref.params.to_numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(r.se.to_numpy(), ref.std_errors.to_numpy(), rtol=1e-6)
    # r2_within is linearmodels' rsquared_within / fixest's within R2
    assert r.r2_within == pytest.approx(ref.rsquared, rel=1e-8)


def test_grunfeld_cluster_vs_panelols(grunfeld):
    from linearmodels import PanelOLS

    p = grunfeld.set_index(["firm", "year"])
    ref = PanelOLS.from_formula("invest ~ value + capital + EntityEffects", p).fit(
        cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True)
    r = fiproxy.twfe("invest ~ value + capital | firm", grunfeld, vcov={"CRV1": "firm"})
    n, k = r.nobs, 2
    factor = (n - k - 1) / (n - k)  # fixest nested-K vs linearmodels slopes-only K
    np.testing.assert_allclose(r.se.to_numpy() ** 2 * factor, ref.std_errors.to_numpy() ** 2, rtol=1e-6)
    assert r.df_t == 9
    assert r.stats["n_clusters"] == {"firm": 10}


def _panel(seed: int, n: int = 420) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 31, n)
    t = rng.integers(2011, 2024, n)
    h = rng.integers(0, 6, n)
    x1 = rng.normal(size=n) + 0.3 * rng.normal(size=31)[g]
    x2 = rng.normal(size=n) + 0.05 * (t - 2011)
    y = 1.5 * x1 - 0.7 * x2 + rng.normal(size=31)[g] + 0.2 * (t - 2011) + rng.standard_t(4, size=n)
    return pd.DataFrame({"prov": g, "yr": t, "h": h, "x1": x1, "x2": x2, "x3": rng.normal(size=n),
                         "y": y, "w": rng.uniform(0.3, 3.0, n)})


FORMULAS = ["y ~ x1 + x2", "y ~ x1 + x2 | prov", "y ~ x1 + x2 + x3 | prov + yr", "y ~ x1 + x2 | prov + yr + h",
            "y ~ x1 + x1:x3 + x2 | prov + yr"]
VCOVS = [("iid", "iid"), ("HC1", "hetero"), ({"CRV1": "prov"}, {"CRV1": "prov"}), ({"CRV1": "h"}, {"CRV1": "h"}),
         ({"CRV1": "prov+yr"}, {"CRV1": "prov+yr"})]


# every formula x covariance; weights alternate in the default run, the full grid is slow
GRID = [pytest.param(f, o, t, w, id=f"{f}-{vid}-{w}",
                     marks=[pytest.mark.slow] if (i + j + (w is not None)) % 2 else [])
        for i, f in enumerate(FORMULAS)
        for j, (o, t, vid) in enumerate([(*v, vid) for v, vid in zip(VCOVS, ["iid", "HC1", "CRV1-prov", "CRV1-h", "CRV1-twoway"])])
        for w in (None, "w")]


@pytest.mark.parametrize("formula, ours, theirs, weights", GRID)
def test_random_panels_vs_pyfixest(formula, ours, theirs, weights):
    data = _panel(zlib.crc32(f"{formula}{ours}{weights}".encode()) % 1000)
    r = fiproxy.twfe(formula, data, vcov=ours, weights=weights)
    ref = pf.feols(formula, data, vcov=theirs, weights=weights, fixef_tol=1e-12)
    names = list(r.params.index)
    np.testing.assert_allclose(r.params.to_numpy(), ref.coef()[names].to_numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(r.se.to_numpy(), ref.se()[names].to_numpy(), rtol=1e-6)
    assert r.df_t == pytest.approx(float(ref._df_t))
    np.testing.assert_allclose(r.pvalue.to_numpy(), ref.pvalue()[names].to_numpy(), rtol=1e-5, atol=1e-12)
    assert r.r2 == pytest.approx(ref._r2, rel=1e-8)
    if "|" in formula:
        assert r.r2_within == pytest.approx(ref._r2_within, rel=1e-8)
    assert r.nobs == ref._N


def test_three_fe_vs_absorbingls():
    """AbsorbingLS (linearmodels) with three absorbed categoricals, unadjusted and robust."""
    from linearmodels.iv.absorbing import AbsorbingLS

    data = _panel(7, 600)
    cats = pd.DataFrame({c: pd.Categorical(data[c]) for c in ("prov", "yr", "h")})
    for cov, ours in [("unadjusted", "iid"), ("robust", "HC1")]:
        ref = AbsorbingLS(data.y, data[["x1", "x2"]], absorb=cats).fit(cov_type=cov, debiased=True)
        r = fiproxy.twfe("y ~ x1 + x2 | prov + yr + h", data, vcov=ours)
        np.testing.assert_allclose(r.params.to_numpy(), ref.params.to_numpy(), atol=1e-8)
        np.testing.assert_allclose(r.se.to_numpy(), ref.std_errors.to_numpy(), rtol=1e-6)


def test_vcov_as_equals_refit():
    data = _panel(3)
    base = fiproxy.twfe("y ~ x1 + x2 | prov + yr", data)
    for v in ["HC1", {"CRV1": "prov"}, {"CRV1": "prov+yr"}]:
        a = base.vcov_as(v)
        b = fiproxy.twfe("y ~ x1 + x2 | prov + yr", data, vcov=v)
        np.testing.assert_allclose(a.vcov.to_numpy(), b.vcov.to_numpy(), rtol=1e-12)
        assert a.df_t == b.df_t and a.vcov_type == b.vcov_type and a.spec["vcov"] == v
        assert a.stats.get("n_clusters") == b.stats.get("n_clusters")  # cluster counts follow the covariance
    assert "n_clusters" not in base.vcov_as({"CRV1": "prov"}).vcov_as("HC1").stats


def test_design_and_stats_interface():
    data = _panel(5)
    r = fiproxy.twfe("y ~ x1 + x2 | prov + yr", data, vcov={"CRV1": "prov"})
    d = r.extra["design"]
    assert d.X.shape == (r.nobs, 2) and d.coefnames == ["x1", "x2"]
    assert d.fe_codes.shape == (r.nobs, 2) and d.fe_names == ["prov", "yr"]
    assert d.df_fe == 31 + 13 - 1
    assert list(d.frame.index) == list(data.index)
    np.testing.assert_allclose(d.fitted + d.resid, data.y.to_numpy(), atol=1e-10)
    np.testing.assert_allclose(d.X.T @ d.resid, 0, atol=1e-8)
    for key in ("r2", "r2_within", "adj_r2", "rss", "nobs", "df_resid", "n_clusters"):
        assert key in r.stats
    assert r.stats["df_resid"] == r.nobs - 2 - d.df_fe
    ci = r.conf_int()
    assert (ci["lower"] < r.params).all() and (r.params < ci["upper"]).all()
    assert "x1" in r.summary() and list(r.to_frame().columns)[:2] == ["estimate", "se"]
