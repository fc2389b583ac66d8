"""Property-based tests of the estimators: invariances that any correct implementation has.

For ``fiproxy.twfe`` and every covariance type (iid, HC1, HC2, HC3, CRV1 one- and two-way,
CRV3, Driscoll–Kraay), on random unbalanced panels drawn by hypothesis:

- adding constants to the fixed effects (y + a_i + b_t, x + c_i) changes no slope and no SE;
- permuting the rows changes no slope and no SE;
- y -> c·y gives β -> c·β and SE -> |c|·SE; x_j -> c·x_j gives β_j -> β_j / c and
  SE_j -> SE_j / |c| with the other coefficients unchanged;
- t statistics and p-values are unchanged by all of the above.

Row-order invariance is also checked for the threshold, spatial-panel, GMM and DiD estimators
on one fixed data set each. Tolerances: relative 1e-7 (the fixed-effect projections converge to
1e-10; rescaling by up to 1e3 moves the last digits), absolute 1e-9 for t statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from _sim_estimation import province_panel, staggered_panel
from _spatial_sim import ring_weights, simulate_sdm
from hypothesis import strategies as st

import fiproxy

RTOL = 1e-7
VCOVS = ["iid", "HC1", "HC2", "HC3", {"CRV1": "prov_code"}, {"CRV1": "prov_code+year"}, {"CRV3": "prov_code"},
         {"DK": 1}]
PROPS = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def random_panels(draw):
    """An unbalanced province x year panel with province and year effects and heteroskedastic errors."""
    n_units = draw(st.integers(6, 14))
    n_years = draw(st.integers(4, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    drop = draw(st.sampled_from([0.0, 0.1, 0.25]))
    rng = np.random.default_rng(seed)
    d = pd.DataFrame([(11 + i, 2010 + t) for i in range(n_units) for t in range(n_years)], columns=["prov_code", "year"])
    d = d.loc[rng.random(len(d)) >= drop].reset_index(drop=True)
    n = len(d)
    a = rng.normal(size=n_units)[d.prov_code - 11]
    b = rng.normal(size=n_years)[d.year - 2010]
    d["x1"] = rng.normal(size=n) + 0.5 * a
    d["x2"] = rng.normal(size=n) + 0.3 * b
    d["y"] = 1.5 * d.x1 - 0.7 * d.x2 + a + b + rng.normal(size=n) * (1 + np.abs(d.x1))
    return d


def _fit_all(data: pd.DataFrame) -> list:
    r = fiproxy.twfe("y ~ x1 + x2 | prov_code + year", data, vcov="iid")
    return [r] + [r.vcov_as(v) for v in VCOVS[1:]]


def _assert_same(a, b, scale_params=None, scale_se=None):
    for ra, rb, v in zip(a, b, VCOVS):
        pa = ra.params.to_numpy() * (1 if scale_params is None else scale_params)
        sa = ra.se.to_numpy() * (1 if scale_se is None else scale_se)
        np.testing.assert_allclose(rb.params.to_numpy(), pa, rtol=RTOL, atol=1e-12, err_msg=f"params, vcov={v}")
        np.testing.assert_allclose(rb.se.to_numpy(), sa, rtol=RTOL, atol=1e-12, err_msg=f"SE, vcov={v}")
        np.testing.assert_allclose(np.abs(rb.tstat.to_numpy()), np.abs(ra.tstat.to_numpy()), rtol=RTOL, atol=1e-9,
                                   err_msg=f"|t|, vcov={v}")
        assert rb.df_t == ra.df_t and rb.nobs == ra.nobs


@PROPS
@given(data=random_panels(), shift=st.floats(-1e3, 1e3, allow_nan=False), seed=st.integers(0, 1000))
def test_twfe_invariant_to_constants_added_to_fixed_effects(data, shift, seed):
    rng = np.random.default_rng(seed)
    base = _fit_all(data)
    moved = data.copy()
    units, years = moved.prov_code.unique(), moved.year.unique()
    a = dict(zip(units, shift * rng.normal(size=len(units))))
    b = dict(zip(years, shift * rng.normal(size=len(years))))
    moved["y"] = moved.y + moved.prov_code.map(a) + moved.year.map(b)
    moved["x1"] = moved.x1 + moved.prov_code.map(dict(zip(units, rng.normal(size=len(units)))))
    moved["x2"] = moved.x2 - 3.0 * moved.year.map({y: i for i, y in enumerate(sorted(years))})
    _assert_same(base, _fit_all(moved))


@PROPS
@given(data=random_panels(), order_seed=st.integers(0, 2**32 - 1))
def test_twfe_invariant_to_row_order(data, order_seed):
    perm = np.random.default_rng(order_seed).permutation(len(data))
    _assert_same(_fit_all(data), _fit_all(data.iloc[perm]))
    _assert_same(_fit_all(data), _fit_all(data.iloc[perm].reset_index(drop=True)))


SCALES = st.sampled_from([1e-3, 0.37, -1.0, -2.5, 12.0, 1e3])


@PROPS
@given(data=random_panels(), c=SCALES)
def test_twfe_rescaling_outcome_scales_slopes_and_ses(data, c):
    base = _fit_all(data)
    scaled = data.assign(y=c * data.y)
    _assert_same(base, _fit_all(scaled), scale_params=c, scale_se=abs(c))


@PROPS
@given(data=random_panels(), c=SCALES)
def test_twfe_rescaling_a_regressor_scales_its_slope_and_se(data, c):
    base = _fit_all(data)
    scaled = data.assign(x1=c * data.x1)
    factor = np.array([1 / c, 1.0])
    _assert_same(base, _fit_all(scaled), scale_params=factor, scale_se=np.abs(factor))


# ------------------------------------------------------------------ other estimators: row order
def _shuffled(d: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    return d.iloc[np.random.default_rng(seed).permutation(len(d))]


def _balanced(n_units=12, n_years=8, seed=3) -> pd.DataFrame:
    return province_panel(n_units, n_years, seed)


def test_threshold_invariant_to_row_order_and_outcome_scale():
    d = _balanced()
    kw = dict(q="q", regime="x", bootstrap=0, seed=1)
    a = fiproxy.threshold("y ~ 1 | prov_code", d, **kw)
    b = fiproxy.threshold("y ~ 1 | prov_code", _shuffled(d), **kw)
    c = fiproxy.threshold("y ~ 1 | prov_code", d.assign(y=-4.0 * d.y), **kw)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-10)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-10)
    np.testing.assert_allclose(c.params, -4.0 * a.params, rtol=1e-9)
    np.testing.assert_allclose(c.se, 4.0 * a.se, rtol=1e-9)
    assert a.stats["thresholds"] == b.stats["thresholds"] == c.stats["thresholds"]


def test_spatial_panel_invariant_to_row_order():
    W = ring_weights(31)
    d = simulate_sdm(W, T=5, seed=2)
    kw = dict(model="sdm", fe="twoway", effects=True, draws=200, seed=5)
    a = fiproxy.spatial_panel("y ~ x1 + x2", d, W, **kw)
    b = fiproxy.spatial_panel("y ~ x1 + x2", _shuffled(d), W, **kw)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-8)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-7)
    pd.testing.assert_frame_equal(b.extra["effects"], a.extra["effects"], rtol=1e-7)


def test_gmm_invariant_to_row_order():
    rng = np.random.default_rng(11)
    rows = []
    for i in range(40):
        y, a = 0.0, rng.normal()
        for t in range(7):
            x = rng.normal()
            y = 0.5 * y + 0.8 * x + a + rng.normal()
            rows.append((i, 2000 + t, y, x))
    d = pd.DataFrame(rows, columns=["unit", "year", "y", "x"])
    kw = dict(panel=("unit", "year"), lags=1, predetermined=["x"], system=True, collapse=True)
    a = fiproxy.gmm(d, "y", **kw)
    b = fiproxy.gmm(_shuffled(d), "y", **kw)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-9)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-8)


def test_did_invariant_to_row_order():
    d = staggered_panel(60, seed=2)
    kw = dict(aggregate="simple", biters=199, seed=4)
    a = fiproxy.did(d, "y", "unit", "year", "g", **kw)
    b = fiproxy.did(_shuffled(d), "y", "unit", "year", "g", **kw)
    np.testing.assert_allclose(b.params, a.params, rtol=1e-10)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-10)


@pytest.mark.parametrize("c", [1e-2, -3.0])
def test_wild_bootstrap_pvalue_invariant_to_rescaling(c):
    d = _balanced(seed=9)
    r1 = fiproxy.twfe("y ~ x | prov_code + year", d, vcov={"CRV1": "prov_code"})
    r2 = fiproxy.twfe("y ~ x | prov_code + year", d.assign(y=c * d.y), vcov={"CRV1": "prov_code"})
    w1 = fiproxy.wild_bootstrap(r1, "x", B=999, seed=3, weights="webb")
    w2 = fiproxy.wild_bootstrap(r2, "x", B=999, seed=3, weights="webb")
    assert w1.pvalue == w2.pvalue
    lo, hi = sorted(np.array(w1.conf_int) * c)
    np.testing.assert_allclose(w2.conf_int, (lo, hi), rtol=1e-6)
