"""Covariance estimators of ``fiproxy.estimators.inference.vcov``.

References and tolerances (relative, on standard errors):
- HC2 / HC3: statsmodels OLS/WLS on the explicit dummy (LSDV) regression, 1e-8
  (fiproxy's leverage includes the fixed-effect dummies, as in LSDV).
- CRV3: pyfixest's leave-one-cluster-out refit with ``ssc(k_adj=False, G_adj=False)``
  times (G-1)/G (fiproxy uses the MacKinnon-Nielsen-Webb factor; pyfixest
  applies no factor under that ssc), 1e-6.
- Driscoll-Kraay: pyfixest ``vcov="DK"`` with the same bandwidth, 1e-6.
- Two-way clustering with the eigenvalue fix: the PSD-projected matrix, exact algebra.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import fiproxy
from fiproxy.estimators.inference.vcov import VcovError, dk_bandwidth, parse_vcov

pf = pytest.importorskip("pyfixest")


def _panel(seed: int, frac: float = 0.9) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    b = pd.DataFrame([(i, t) for i in range(31) for t in range(2011, 2024)], columns=["prov", "yr"])
    b = b.sample(frac=frac, random_state=seed).reset_index(drop=True)
    n = len(b)
    b["x1"] = rng.normal(size=n) + rng.normal(size=13)[b.yr - 2011]
    b["x2"] = rng.normal(size=n)
    b["y"] = b.x1 - 0.5 * b.x2 + rng.normal(size=n) + rng.normal(size=13)[b.yr - 2011] + rng.normal(size=31)[b.prov]
    b["w"] = rng.uniform(0.5, 2.0, n)
    return b


@pytest.fixture(scope="module")
def panel():
    return _panel(4)


@pytest.mark.parametrize("kind, weights, fe", [
    ("HC3", None, "prov + yr"), ("HC2", "w", "prov + yr"), ("HC3", "w", "prov"),
    pytest.param("HC2", None, "prov", marks=pytest.mark.slow),
])
def test_hc23_vs_statsmodels_lsdv(panel, kind, weights, fe):
    dummies = " + ".join(f"C({f.strip()})" for f in fe.split("+"))
    r = fiproxy.twfe(f"y ~ x1 + x2 | {fe}", panel, vcov=kind, weights=weights)
    mod = (smf.ols(f"y ~ x1 + x2 + {dummies}", panel) if weights is None
           else smf.wls(f"y ~ x1 + x2 + {dummies}", panel, weights=panel[weights]))
    ref = mod.fit(cov_type=kind)
    np.testing.assert_allclose(r.se.to_numpy(), ref.bse[["x1", "x2"]].to_numpy(), rtol=1e-8)
    assert r.vcov_type == kind


def test_hc3_no_fe_vs_statsmodels(panel):
    r = fiproxy.twfe("y ~ x1 + x2", panel, vcov="HC3")
    ref = smf.ols("y ~ x1 + x2", panel).fit(cov_type="HC3")
    np.testing.assert_allclose(r.se.to_numpy(), ref.bse.to_numpy(), rtol=1e-8)


def test_crv3_vs_explicit_refits(panel):
    """Leave-one-province-out refits with statsmodels (dummies for the year FE)."""
    r = fiproxy.twfe("y ~ x1 + x2 | yr", panel, vcov={"CRV3": "prov"})
    full = smf.ols("y ~ x1 + x2 + C(yr)", panel).fit().params[["x1", "x2"]].to_numpy()
    D = np.array([smf.ols("y ~ x1 + x2 + C(yr)", panel[panel.prov != g]).fit().params[["x1", "x2"]].to_numpy() - full
                  for g in range(31)])
    np.testing.assert_allclose(r.vcov.to_numpy(), 30 / 31 * D.T @ D, rtol=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("fml", ["y ~ x1 + x2", "y ~ x1 + x2 | prov", "y ~ x1 + x2 | prov + yr"])
def test_crv3_vs_pyfixest(panel, fml):
    r = fiproxy.twfe(fml, panel, vcov={"CRV3": "prov"})
    ref = pf.feols(fml, panel, vcov={"CRV3": "prov"}, ssc=pf.ssc(k_adj=False, G_adj=False), fixef_tol=1e-12)
    G = 31
    names = list(r.params.index)
    np.testing.assert_allclose(r.se.to_numpy(), ref.se()[names].to_numpy() * np.sqrt((G - 1) / G), rtol=1e-6)
    assert r.df_t == G - 1


@pytest.mark.parametrize("fml, lag", [
    ("y ~ x1 + x2 | prov + yr", 2),
    pytest.param("y ~ x1 + x2 | prov + yr", 0, marks=pytest.mark.slow),
    pytest.param("y ~ x1 + x2 | prov", 2, marks=pytest.mark.slow),
    pytest.param("y ~ x1 + x2", 1, marks=pytest.mark.slow),
])
def test_driscoll_kraay_vs_pyfixest(panel, fml, lag):
    r = fiproxy.twfe(fml, panel, vcov={"DK": lag, "time": "yr"})
    ref = pf.feols(fml, panel, vcov="DK", vcov_kwargs={"lag": lag, "time_id": "yr", "panel_id": "prov"},
                   fixef_tol=1e-12)
    names = list(r.params.index)
    np.testing.assert_allclose(r.se.to_numpy(), ref.se()[names].to_numpy(), rtol=1e-6)
    assert r.df_t == 12
    assert f"bandwidth {lag}" in r.vcov_type


def test_dk_default_bandwidth_rule(panel):
    assert [dk_bandwidth(T) for T in (13, 30, 100, 300)] == [2, 3, 4, 5]
    data = panel.rename(columns={"prov": "prov_code", "yr": "year"})
    r = fiproxy.twfe("y ~ x1 + x2 | prov_code", data, vcov="DK")
    assert "bandwidth 2" in r.vcov_type and "T=13" in r.vcov_type
    explicit = fiproxy.twfe("y ~ x1 + x2 | prov_code", data, vcov={"DK": 2})
    np.testing.assert_allclose(r.vcov.to_numpy(), explicit.vcov.to_numpy(), rtol=1e-14)


def test_twoway_cluster_fix_psd(panel):
    base = fiproxy.twfe("y ~ x1 + x2 | prov", panel, vcov={"CRV1": "prov+yr"})
    fixed = base.vcov_as({"CRV1": "prov+yr", "fix_psd": True})
    vals, vecs = np.linalg.eigh(base.vcov.to_numpy())
    expect = (vecs * np.clip(vals, 0, None)) @ vecs.T
    np.testing.assert_allclose(fixed.vcov.to_numpy(), expect, rtol=1e-12, atol=1e-15)
    assert np.linalg.eigvalsh(fixed.vcov.to_numpy()).min() >= -1e-15
    assert base.df_t == 12  # min(G) - 1


def test_crv1_nested_fe_dof(panel):
    """fixef.K='nested': the prov FE nested in the prov cluster count as one parameter."""
    r = fiproxy.twfe("y ~ x1 + x2 | prov + yr", panel, vcov={"CRV1": "prov"})
    d = r.extra["design"]
    n, G = r.nobs, 31
    e, X = d.resid, d.X
    S = pd.DataFrame(X * e[:, None]).groupby(d.frame["prov"].to_numpy()).sum().to_numpy()
    B = np.linalg.inv(X.T @ X)
    K = 2 + (31 + 13 - 1) - 31 + 1
    V = G / (G - 1) * (n - 1) / (n - K) * B @ S.T @ S @ B
    np.testing.assert_allclose(r.vcov.to_numpy(), V, rtol=1e-10)


@pytest.mark.parametrize("bad, msg", [
    ("HC9", "unknown covariance"),
    ("CRV1", "need a dict"),
    ({"CRV1": "a", "DK": 1}, "exactly one"),
    ({"DK": -1}, "non-negative"),
    ({"CRV3": "a+b"}, "one cluster variable"),
    (3, "vcov must be"),
])
def test_parse_vcov_errors(bad, msg):
    with pytest.raises(VcovError, match=msg):
        parse_vcov(bad)


def test_parse_vcov_forms():
    assert parse_vcov("hetero").kind == "HC1"
    assert parse_vcov({"CRV1": "a + b"}).clusters == ("a", "b")
    assert parse_vcov({"CRV1": ["a", "b"]}).spec == {"CRV1": "a+b"}
    assert parse_vcov({"DK": 3, "time": "t"}).spec == {"DK": 3, "time": "t"}


def test_dk_bandwidth_too_large(panel):
    r = fiproxy.twfe("y ~ x1 | prov", panel)
    with pytest.raises(VcovError, match="smaller than the number of periods"):
        r.vcov_as({"DK": 13, "time": "yr"})


def test_negative_multiway_variance_is_flagged_not_silent():
    """4 x 4 two-way clusters, one observation per cell: V_a + V_b - V_ab has a negative diagonal
    (-0.0147 for x), whose square root Result.se reports as 0 (p-value 0). The covariance label
    now says so (also after vcov_as); fix_psd gives a PSD matrix; one-way CRV1 is unaffected."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"a": np.repeat(np.arange(4), 4), "b": np.tile(np.arange(4), 4), "x": rng.normal(size=16)})
    d["y"] = 0.5 * d["x"] + rng.normal(size=16)
    r = fiproxy.twfe("y ~ x", d, vcov={"CRV1": "a+b"})
    assert np.diag(r.vcov.to_numpy())[1] == pytest.approx(-0.01473, abs=1e-5)
    assert "NOT PSD: negative variance of 2 parameter(s)" in r.vcov_type and "fix_psd" in r.vcov_type
    hc = fiproxy.twfe("y ~ x", d, vcov="HC1")
    assert "NOT PSD" not in hc.vcov_type and hc.vcov_as({"CRV1": "a+b"}).vcov_type == r.vcov_type
    assert "NOT PSD" not in r.vcov_as("HC1").vcov_type
    rng = np.random.default_rng(4)
    e = d[["a", "b"]].assign(z=rng.normal(size=16))
    e["x"] = e["z"] + 0.5 * rng.normal(size=16)
    e["y"] = 0.5 * e["x"] + rng.normal(size=16)
    r_iv = fiproxy.iv("y ~ 1 | x ~ z", e, vcov={"CRV1": "a+b"}, diagnostics=False)
    assert "NOT PSD: negative variance of 1 parameter(s)" in r_iv.vcov_type
    fixed = fiproxy.twfe("y ~ x", d, vcov={"CRV1": "a+b", "fix_psd": True})
    assert np.all(np.linalg.eigvalsh(fixed.vcov.to_numpy()) >= -1e-15) and "NOT PSD" not in fixed.vcov_type
    one_way = fiproxy.twfe("y ~ x", d, vcov={"CRV1": "a"})
    assert np.all(one_way.se > 0) and "NOT PSD" not in one_way.vcov_type
