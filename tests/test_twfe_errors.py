"""Bad input to ``fiproxy.twfe`` gives a clear error (or a reported, documented action).

Covers: missing column (close names listed), NaN in a cluster variable (rows
named), one cluster, perfectly collinear design, non-numeric regressor,
singletons (dropped iteratively and reported), collinear regressors (dropped by
name, estimates equal to the model without them), bad weights, duplicate
panel keys for lags.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fiproxy
from fiproxy.estimators.design import DesignError
from fiproxy.estimators.formula import FormulaError
from fiproxy.estimators.inference.vcov import VcovError


@pytest.fixture()
def panel():
    rng = np.random.default_rng(1)
    d = pd.DataFrame([(p, t) for p in range(11, 21) for t in range(2011, 2019)], columns=["prov_code", "year"])
    n = len(d)
    d["fin_access"] = rng.normal(size=n)
    d["dfi_index"] = rng.normal(size=n)
    d["internet"] = rng.normal(size=n)
    d["y"] = d.fin_access + rng.normal(size=n)
    return d


def test_missing_column_lists_close_names(panel):
    with pytest.raises(DesignError, match=r"'dfi_indx' \(did you mean 'dfi_index'"):
        fiproxy.twfe("y ~ dfi_indx + internet | prov_code", panel)
    with pytest.raises(DesignError, match="prov_cod"):
        fiproxy.twfe("y ~ dfi_index | prov_cod", panel)


def test_nan_in_cluster_variable_names_rows(panel):
    panel["region"] = np.where(panel.prov_code < 16, "east", "west").astype(object)
    panel.loc[[5, 17], "region"] = None
    with pytest.raises(VcovError, match=r"'region' has 2 missing value\(s\).*rows \[5, 17\]"):
        fiproxy.twfe("y ~ dfi_index | prov_code", panel, vcov={"CRV1": "region"})
    r = fiproxy.twfe("y ~ dfi_index | prov_code", panel)
    with pytest.raises(VcovError, match="rows \\[5, 17\\]"):
        r.vcov_as({"CRV1": "region"})


def test_single_cluster(panel):
    panel["country"] = "CN"
    with pytest.raises(VcovError, match="single cluster"):
        fiproxy.twfe("y ~ dfi_index | prov_code", panel, vcov={"CRV1": "country"})


def test_perfectly_collinear_design(panel):
    panel["twice"] = 2 * panel.dfi_index
    with pytest.raises(DesignError, match="perfectly collinear.*'twice'"):
        fiproxy.twfe("y ~ dfi_index + twice | prov_code", panel, collinear="raise")
    panel["prov_trait"] = panel.prov_code * 0.5
    with pytest.raises(DesignError, match="no regressor is left"):
        fiproxy.twfe("y ~ prov_trait | prov_code", panel)


def test_collinear_dropped_by_name(panel):
    panel["twice"] = 2 * panel.dfi_index
    panel["prov_trait"] = panel.prov_code * 0.5
    r = fiproxy.twfe("y ~ dfi_index + twice + prov_trait + internet | prov_code", panel)
    assert list(r.params.index) == ["dfi_index", "internet"]
    assert r.spec["collinear"] == ["twice", "prov_trait"]
    assert any("twice, prov_trait" in w for w in r.warnings)
    ref = fiproxy.twfe("y ~ dfi_index + internet | prov_code", panel)
    np.testing.assert_allclose(r.params.to_numpy(), ref.params.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(r.se.to_numpy(), ref.se.to_numpy(), rtol=1e-12)


def test_non_numeric_regressor(panel):
    panel["label"] = np.where(panel.dfi_index > 0, "hi", "lo")
    with pytest.raises(DesignError, match="'label' is not numeric.*C\\(name\\) or i\\(name\\)"):
        fiproxy.twfe("y ~ label | prov_code", panel)


def test_singletons_dropped_iteratively_and_reported(panel):
    extra = pd.DataFrame({"prov_code": [99, 98], "year": [2011, 2030], "fin_access": [0.0, 1.0],
                          "dfi_index": [1.0, 2.0], "internet": [0.0, 0.0], "y": [1.0, 2.0]}, index=[500, 501])
    d = pd.concat([panel, extra])
    r = fiproxy.twfe("y ~ dfi_index | prov_code + year", d)
    assert r.nobs == len(panel) and r.spec["n_singletons"] == 2
    assert r.spec["singleton_groups"]["prov_code"] == [98, 99]
    assert any("2 singleton" in w for w in r.warnings)
    assert 500 not in r.extra["design"].frame.index
    keep = fiproxy.twfe("y ~ dfi_index | prov_code + year", d, drop_singletons=False)
    assert keep.nobs == len(d)
    # the estimates do not depend on singletons, only the degrees of freedom do
    np.testing.assert_allclose(keep.params.to_numpy(), r.params.to_numpy(), atol=1e-10)


def test_bad_weights_and_formula(panel):
    panel["w"] = 1.0
    panel.loc[3, "w"] = -1.0
    with pytest.raises(DesignError, match="weights must be positive.*rows \\[3\\]"):
        fiproxy.twfe("y ~ dfi_index | prov_code", panel, weights="w")
    with pytest.raises(FormulaError):
        fiproxy.twfe("y ~ dfi_index + | prov_code", panel)
    with pytest.raises(DesignError, match="IV"):
        fiproxy.twfe("y ~ dfi_index | prov_code | internet ~ fin_access", panel)


def test_duplicate_panel_keys_for_lags(panel):
    d = pd.concat([panel, panel.iloc[[0]]])
    with pytest.raises(DesignError, match="does not identify rows uniquely"):
        fiproxy.twfe("y ~ l(dfi_index, 1) | prov_code", d)
    with pytest.raises(DesignError, match="panel_id"):
        fiproxy.twfe("y ~ l(dfi_index, 1)", panel.rename(columns={"year": "t"}))
