"""Formula parser (fixest syntax) and the model matrices built from it.

Model-matrix columns are checked against explicit pandas constructions
(exact equality) and, for lags, against pyfixest-free hand-built shifts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fiproxy
from fiproxy.estimators.formula import FormulaError, parse_formula


def test_basic_parts():
    p = parse_formula("y ~ x1 + x2 | prov_code + year")
    assert p.depvar.var == "y"
    assert [t.label for t in p.terms] == ["x1", "x2"]
    assert p.fe == (("prov_code",), ("year",)) and p.fe_names == ["prov_code", "year"]
    assert not p.intercept and not p.is_iv


def test_interactions_lags_dummies():
    p = parse_formula("y ~ x1*x3 + l(x, 1:2) + f(x, 1) + i(g, ref=3) + i(g, z) + C(h) + log(v)")
    assert [t.label for t in p.terms] == ["x1", "x3", "x1:x3", "l(x,1)", "l(x,2)", "f(x,1)", "g", "g", "C(h)", "log(v)"]
    assert p.terms[6].factors[0].ref == "3" and p.terms[7].factors[0].by == "z"
    assert p.intercept


def test_intercept_controls():
    assert not parse_formula("y ~ x - 1").intercept
    assert not parse_formula("y ~ 0 + x").intercept
    with pytest.raises(FormulaError, match="intercept"):
        parse_formula("y ~ 1 + x | g")


def test_iv_parts_parse():
    p = parse_formula("y ~ exog | fe1 + fe2 | endog ~ z1 + z2")
    assert [t.label for t in p.endog] == ["endog"] and [t.label for t in p.instruments] == ["z1", "z2"]
    assert p.fe_names == ["fe1", "fe2"] and p.is_iv
    q = parse_formula("y ~ exog | endog ~ z")
    assert q.fe == () and q.intercept and [t.label for t in q.endog] == ["endog"]
    assert parse_formula("y ~ x | a^b").fe == (("a", "b"),)


@pytest.mark.parametrize("bad, msg", [
    ("y x", "needs 'y ~ x"),
    ("y ~ x + foo(z)", "unknown function foo"),
    ("y ~ x - z", "only '-1'"),
    ("y ~ x | a | b | c", "too many"),
    ("y ~ (x", "unbalanced"),
    ("y ~ x | a + a", "twice"),
    ("y ~ x | e ~ z | a", "must come last"),
    ("y ~ l(x, a)", "order must be an integer"),
    ("C(y) ~ x", "dependent variable"),
    ("y ~ x | a-b", "not a column name"),
    ("y ~ i(g, foo=1)", "i\\(\\) takes"),
])
def test_parse_errors(bad, msg):
    with pytest.raises(FormulaError, match=msg):
        parse_formula(bad)


@pytest.fixture()
def panel():
    rng = np.random.default_rng(0)
    d = pd.DataFrame([(p, t) for p in (11, 12, 13, 14) for t in range(2011, 2017)], columns=["prov_code", "year"])
    d = d.sample(frac=1, random_state=1).drop(index=[3])  # unsorted, one gap
    n = len(d)
    d["x"] = rng.normal(size=n)
    d["z"] = rng.normal(size=n)
    d["g"] = rng.choice(["a", "b", "c"], n)
    d["y"] = rng.normal(size=n)
    return d


def _lag(d, col, k):
    s = d.set_index(["prov_code", "year"])[col]
    keys = list(zip(d.prov_code, d.year - k))
    return np.array([s.get(key, np.nan) for key in keys])


def test_lags_leads_within_unit(panel):
    r = fiproxy.twfe("y ~ x + l(x, 1) + f(x, 2)", panel)
    d = r.extra["design"]
    keep = d.frame.index
    lag1 = _lag(panel, "x", 1)
    lead2 = _lag(panel, "x", -2)
    ok = ~np.isnan(lag1) & ~np.isnan(lead2)
    assert list(keep) == list(panel.index[ok])
    np.testing.assert_array_equal(d.X_raw[:, 2], lag1[ok])
    np.testing.assert_array_equal(d.X_raw[:, 3], lead2[ok])
    assert r.spec["n_missing"] == int((~ok).sum())
    assert any("missing values removed" in w for w in r.warnings)


def test_dummies_and_interactions(panel):
    r = fiproxy.twfe("y ~ x:z + C(g) + i(g, x, ref=b)", panel)
    d = r.extra["design"]
    assert d.coefnames == ["Intercept", "x:z", "C(g)[T.b]", "C(g)[T.c]", "g::a:x", "g::c:x"]
    np.testing.assert_array_equal(d.X_raw[:, 1], (panel.x * panel.z).to_numpy())
    np.testing.assert_array_equal(d.X_raw[:, 2], (panel.g == "b").to_numpy(dtype=float))
    np.testing.assert_array_equal(d.X_raw[:, 5], ((panel.g == "c") * panel.x).to_numpy())


def test_star_expansion_matches_explicit(panel):
    a = fiproxy.twfe("y ~ x*z | prov_code", panel)
    b = fiproxy.twfe("y ~ x + z + x:z | prov_code", panel)
    pd.testing.assert_series_equal(a.params, b.params)


def test_combined_fe_equals_interacted_dummies(panel):
    panel = panel.assign(pg=panel.prov_code.astype(str) + "_" + panel.g)
    a = fiproxy.twfe("y ~ x + z | prov_code^g", panel)
    b = fiproxy.twfe("y ~ x + z | pg", panel)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), atol=1e-12)
    assert a.spec["fe"] == ["prov_code^g"]


def test_log_term(panel):
    panel = panel.assign(v=np.exp(panel.z))
    a = fiproxy.twfe("y ~ log(v)", panel)
    b = fiproxy.twfe("y ~ z", panel)
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), atol=1e-12)
    assert list(a.params.index) == ["Intercept", "log(v)"]
