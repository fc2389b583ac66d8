"""Estimator guards: bad input gives a clear error or a warning stored in the Result, never NaN numbers.

One matrix over the estimators (twfe, iv, mediation, threshold, gmm, spatial_panel, did, the
wild cluster bootstrap and etable): NaN and ±inf in the outcome, regressors, fixed effects,
instruments, weights and cluster variables; constant regressors; regressors collinear with
the fixed effects (reported by name); singleton groups (reported); one or few clusters for the
bootstrap (error, or a warning stating the smallest attainable p-value); GMM with more
instruments than observations and with gaps; spatial ML at the boundary of the parameter space
or failing to converge. Every returned Result is checked for finite estimates and SEs.
``docs/reliability.md`` lists the same cases with what the system does.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from _sim_estimation import province_panel, staggered_panel
from _spatial_sim import ring_weights, simulate_sdm

import fiproxy
from fiproxy.estimators.design import DesignError
from fiproxy.estimators.did_data import DiDInputError
from fiproxy.estimators.inference.vcov import VcovError
from fiproxy.estimators.inference.wild_bootstrap import BootstrapWarning

BAD_ROW = 3


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return province_panel(10, 8, seed=0)


def _with(d: pd.DataFrame, col: str, value) -> pd.DataFrame:
    out = d.copy()
    out[col] = out[col].astype(float)
    out.loc[BAD_ROW, col] = value
    return out


def finite(result) -> None:
    """A returned result never carries NaN/inf estimates or standard errors."""
    assert np.isfinite(result.params.to_numpy()).all(), result.params
    assert np.isfinite(result.se.to_numpy()).all(), result.se


def twfe(d, **kw):
    return fiproxy.twfe("y ~ x + z | prov_code + year", d, **kw)


def iv(d, **kw):
    return fiproxy.iv("y ~ z | prov_code + year | x ~ zi", d, **kw)


def mediation(d, **kw):
    return fiproxy.mediation(d, "x", "z", "y", **kw)


LINEAR = {"twfe": twfe, "iv": iv, "mediation": mediation}


# ------------------------------------------------------------------ NaN / inf in linear models
@pytest.mark.parametrize("est, col", [(e, c) for e in LINEAR for c in ["y", "x", "z", "prov_code", "year", "w"]]
                         + [("iv", "zi")])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_values_are_errors_naming_variable_and_row(panel, est, col, value):
    kw = {"weights": "w"}
    if col == "w" and value < 0:
        with pytest.raises(DesignError, match=r"weights must be positive.*rows \[3\]"):
            LINEAR[est](_with(panel, col, value), **kw)
        return
    with pytest.raises(DesignError, match=rf"'{col}' has 1 infinite value\(s\) \(rows \[{BAD_ROW}\]\)"):
        LINEAR[est](_with(panel, col, value), **kw)


@pytest.mark.parametrize("est", list(LINEAR))
@pytest.mark.parametrize("col", ["y", "x", "z", "prov_code", "year", "w"])
def test_missing_values_are_dropped_listwise_and_reported(panel, est, col):
    r = LINEAR[est](_with(panel, col, np.nan), weights="w")
    assert any(re.search(r"1 row\(s\) with missing values removed", w) for w in r.warnings), r.warnings
    assert r.nobs == len(panel) - 1 or est == "mediation"
    finite(r)


def test_missing_cluster_values_name_the_rows(panel):
    d = panel.assign(region=np.where(panel.prov_code < 16, "east", "west").astype(object))
    d.loc[[BAD_ROW, 17], "region"] = None
    for est in LINEAR.values():
        with pytest.raises(VcovError, match=r"cluster variable 'region' has 2 missing value\(s\).*rows \[3, 17\]"):
            est(d, vcov={"CRV1": "region"})


# ------------------------------------------------------------------ constant / collinear / singletons
@pytest.mark.parametrize("make", [lambda d: 1.0, lambda d: 2.0 * d.prov_code, lambda d: d.year - 2000.0],
                         ids=["constant", "province-level", "year-level"])
def test_regressor_absorbed_by_fixed_effects_is_dropped_by_name(panel, make):
    d = panel.assign(z=make(panel))
    r = twfe(d)
    assert r.warnings == ("collinear regressor(s) removed: z",) and list(r.params.index) == ["x"]
    assert r.spec["collinear"] == ["z"]
    finite(r)
    with pytest.raises(DesignError, match=r"perfectly collinear design: \['z'\] is collinear with the fixed effects"):
        twfe(d, collinear="raise")
    with pytest.raises(DesignError, match=r"perfectly collinear instruments: \['zi'\] are collinear with the fixed"):
        iv(panel.assign(zi=make(panel)))
    with pytest.raises(DesignError, match=r"perfectly collinear design: \['z'\]"):
        mediation(d)


def test_singletons_are_removed_and_reported_by_level(panel):
    extra = pd.DataFrame({"prov_code": [99], "year": [2010], "x": [1.0], "z": [0.0], "zi": [0.0], "q": [1.0],
                          "w": [1.0], "y": [1.0]})
    r = twfe(pd.concat([panel, extra], ignore_index=True))
    assert r.warnings == ("1 singleton observation(s) removed (prov_code: [99])",)
    assert r.spec["singleton_groups"] == {"prov_code": [99]} and r.nobs == len(panel)
    finite(r)


# ------------------------------------------------------------------ wild cluster bootstrap: few clusters
def test_bootstrap_with_one_cluster_is_an_error(panel):
    d = panel.assign(country="CN", region=np.where(panel.prov_code < 16, 1, 2))
    r = twfe(d, vcov={"CRV1": "region"})
    with pytest.raises((ValueError, VcovError), match=r"single (bootstrap )?cluster"):
        fiproxy.wild_bootstrap(r, "x", cluster="country", B=99, seed=1)


@pytest.mark.parametrize("G, weights, smallest", [(3, "rademacher", 0.25), (6, "rademacher", 2 / 64), (3, "webb", 2 / 216)])
def test_bootstrap_with_few_clusters_warns_with_smallest_pvalue(panel, G, weights, smallest):
    d = panel[panel.prov_code < 11 + G]
    r = twfe(d, vcov={"CRV1": "prov_code"})
    with pytest.warns(BootstrapWarning, match=rf"only G={G} bootstrap clusters.*smallest attainable p-value is about"):
        w = fiproxy.wild_bootstrap(r, "x", B=999, seed=1, weights=weights)
    assert w.warnings and f"G={G}" in w.warnings[0]
    assert w.smallest_pvalue == pytest.approx(smallest, rel=1e-12)
    assert w.pvalue >= w.smallest_pvalue and np.isfinite(w.t_stat)


def test_bootstrap_with_enough_clusters_is_silent(panel):
    d = pd.concat([panel.assign(prov_code=panel.prov_code + 100 * k) for k in range(2)], ignore_index=True)
    r = twfe(d, vcov={"CRV1": "prov_code"})
    w = fiproxy.wild_bootstrap(r, "x", B=199, seed=1)
    assert w.warnings == () and w.n_clusters == 20


# ------------------------------------------------------------------ threshold
@pytest.mark.parametrize("col", ["y", "x", "q", "z"])
def test_threshold_rejects_missing_and_infinite_values(panel, col):
    kw = dict(q="q", regime="x", bootstrap=0)
    with pytest.raises(ValueError, match=rf"missing values in \{{'{col}': 1\}}"):
        fiproxy.threshold("y ~ z | prov_code", _with(panel, col, np.nan), **kw)
    with pytest.raises(ValueError, match=rf"column '{col}' has infinite values"):
        fiproxy.threshold("y ~ z | prov_code", _with(panel, col, np.inf), **kw)


def test_threshold_constant_regressor_and_few_bootstrap_draws(panel):
    with pytest.raises(ValueError, match=r"'z' does not vary within units: its effect is absorbed"):
        fiproxy.threshold("y ~ z | prov_code", panel.assign(z=1.0), q="q", regime="x", bootstrap=0)
    r = fiproxy.threshold("y ~ z | prov_code", panel, q="q", regime="x", bootstrap=5, seed=1)
    assert any("few bootstrap replications" in w for w in r.warnings)
    finite(r)


# ------------------------------------------------------------------ GMM
def _gmm(d, **kw):
    return fiproxy.gmm(d, "y", panel=("prov_code", "year"), lags=1, exog=["x"], **kw)


@pytest.mark.parametrize("col", ["y", "x"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_gmm_drops_missing_and_infinite_rows_with_a_warning(panel, col, value):
    r = _gmm(_with(panel, col, value), collapse=True)
    assert any("1 observations have missing or infinite values" in w for w in r.warnings), r.warnings
    finite(r)


def test_gmm_more_instruments_than_observations_is_an_error(panel):
    with pytest.raises(ValueError, match=r"37 instruments for 26 observations.*use collapse=True or max_lags="):
        _gmm(panel[panel.prov_code < 13], system=True)


def test_gmm_instruments_beyond_groups_gaps_and_constant_regressor_warn(panel):
    r = _gmm(panel)
    assert any(re.search(r"\d+ instruments exceed the 10 groups", w) for w in r.warnings)
    r = _gmm(panel.drop(index=[BAD_ROW, BAD_ROW + 1]), collapse=True)
    assert any("panel has gaps" in w and "2013" in w for w in r.warnings), r.warnings
    finite(r)
    r = _gmm(panel.assign(x=1.0), collapse=True)
    assert any("regressors ['x'] are collinear" in w for w in r.warnings)
    finite(r)


# ------------------------------------------------------------------ spatial panel
@pytest.fixture(scope="module")
def spatial():
    W = ring_weights(31)
    return W, simulate_sdm(W, T=5, seed=2)


def _sar(d, W, **kw):
    return fiproxy.spatial_panel("y ~ x1 + x2", d, W, model="sar", draws=50, seed=1, **kw)


@pytest.mark.parametrize("col", ["y", "x1"])
def test_spatial_rejects_missing_and_infinite_values(spatial, col):
    W, d = spatial
    with pytest.raises(ValueError, match=r"balanced panel without missing values.*3: \[2011\]"):
        _sar(_with(d, col, np.nan), W)
    with pytest.raises(ValueError, match=r"infinite values in .* \[\(3, 2011\)\]"):
        _sar(_with(d, col, np.inf), W)


def test_spatial_constant_and_collinear_regressors(spatial):
    W, d = spatial
    with pytest.raises(ValueError, match=r"regressor 'x2' has no variation left after the twoway fixed effects"):
        _sar(d.assign(x2=1.0), W)
    with pytest.raises(ValueError, match=r"regressors \['x1', 'x2'\] are collinear"):
        _sar(d.assign(x2=2 * d.x1), W)


def test_spatial_parameter_at_the_boundary_is_an_error(spatial):
    W, d = spatial
    e = d.copy()
    A = np.eye(W.n) - 0.99999 * W.dense()
    for t in e.year.unique():
        m = e.year == t
        e.loc[m, "y"] = np.linalg.solve(A, e.loc[m, "x1"].to_numpy())
    with pytest.raises(RuntimeError, match=r"at the boundary of its admissible interval.*misspecified"):
        _sar(e, W)


def test_spatial_non_convergence_is_an_error(spatial, monkeypatch):
    import scipy.optimize

    from fiproxy.estimators import spatial_ml

    def failing(*args, **kwargs):
        return scipy.optimize.OptimizeResult(x=0.1, success=False, message="Maximum number of function calls reached")

    monkeypatch.setattr(spatial_ml, "minimize_scalar", failing)
    W, d = spatial
    with pytest.raises(RuntimeError, match=r"maximization of the concentrated likelihood failed: Maximum number"):
        _sar(d, W)


# ------------------------------------------------------------------ DiD
@pytest.fixture(scope="module")
def staggered():
    return staggered_panel(30, seed=2)


def _did(d, **kw):
    return fiproxy.did(d, "y", "unit", "year", "g", biters=99, seed=1, **kw)


def test_did_missing_and_infinite_values_are_errors(staggered):
    with pytest.raises(DiDInputError, match=r"outcome column 'y' has 1 missing values at \(unit, period\) \[\(0, 2004\)\]"):
        _did(_with(staggered, "y", np.nan))
    with pytest.raises(DiDInputError, match=r"outcome column 'y' has 1 infinite values at \(unit, period\) \[\(0, 2004\)\]"):
        _did(_with(staggered, "y", np.inf))
    with pytest.raises(DiDInputError, match=r"covariate column 'xc' has 1 infinite values"):
        _did(_with(staggered, "xc", -np.inf), covariates=["xc"])
    with pytest.raises(DiDInputError, match=r"cohort column 'g' must be constant within each unit; it varies for units 0"):
        _did(_with(staggered, "g", np.nan))


def test_did_few_clusters_warns_and_constant_covariate_is_an_error(staggered):
    r = _did(staggered.assign(cl=np.where(staggered.unit < 15, 1, 2)), cluster="cl")
    assert any("only 2 clusters of 'cl'" in w and "2^2 = 4 distinct" in w for w in r.warnings), r.warnings
    r = _did(staggered)
    assert not any("clusters" in w for w in r.warnings)  # 30 units
    finite(r)
    with pytest.raises(DiDInputError, match=r"design matrix is singular"):
        _did(staggered.assign(c=1.0), covariates=["c"])


# ------------------------------------------------------------------ tables never show NaN
def test_etable_refuses_non_finite_numbers(panel):
    from dataclasses import replace

    r = twfe(panel)
    bad = replace(r, params=r.params.where(r.params.index != "z", np.nan))
    with pytest.raises(ValueError, match=r"model \(2\) \(twfe\): coefficient 'z' has a non-finite estimate"):
        fiproxy.etable([r, bad])
    assert "nan" not in fiproxy.etable([r, bad], keep=["x"], fmt="markdown").lower()
