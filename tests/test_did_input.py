"""Bad input to fiproxy.did gets clear errors naming the problem (units, periods, columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fiproxy.estimators.did import DiDInputError, did


def _panel(n_per=(6, 6, 8), years=range(2001, 2007), cohorts=(2003, 2005, 0), seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows, uid = [], 0
    for size, g in zip(n_per, cohorts):
        for _ in range(size):
            uid += 1
            for t in years:
                rows.append((uid, t, g, rng.normal() + (0.5 if g and t >= g else 0.0), rng.normal()))
    return pd.DataFrame(rows, columns=["id", "year", "g", "y", "x"])


ARGS = dict(y="y", unit="id", time="year", cohort="g", bootstrap=False)


def test_unbalanced_panel_error_names_units_and_years():
    d = _panel()
    d = d.drop(d.index[(d["id"] == 3) & d["year"].isin([2002, 2004])])
    d = d.drop(d.index[(d["id"] == 17) & (d["year"] == 2006)])
    with pytest.raises(DiDInputError, match="unbalanced panel") as err:
        did(d, **ARGS)
    msg = str(err.value)
    assert "unit 3 lacks 2002, 2004" in msg and "unit 17 lacks 2006" in msg and "2 of 20 units" in msg


def test_missing_outcome_is_named_not_imputed():
    d = _panel()
    d.loc[(d["id"] == 5) & (d["year"] == 2003), "y"] = np.nan
    with pytest.raises(DiDInputError, match=r"missing values at \(unit, period\) \[\(5, 2003\)\]"):
        did(d, **ARGS)


def test_treatment_switching_off_is_rejected():
    d = _panel()
    d["d"] = ((d["g"] > 0) & (d["year"] >= d["g"])).astype(int)
    d.loc[(d["id"] == 2) & (d["year"] == 2005), "d"] = 0
    with pytest.raises(DiDInputError, match="switches off.*unit 2 in 2005.*absorbing"):
        did(d, "y", "id", "year", treatment="d", bootstrap=False)


def test_no_comparison_units_with_never_treated_control():
    d = _panel(n_per=(6, 6), cohorts=(2003, 2005))
    with pytest.raises(DiDInputError, match=r"no comparison units for cohorts \['2003', '2005'\].*notyettreated"):
        did(d, **ARGS)
    with pytest.raises(DiDInputError, match="no comparison units.*lasttreated"):
        did(d, "y", "id", "year", "g", method="sunab")


def test_single_cohort_without_never_treated_has_no_comparison():
    d = _panel(n_per=(6,), cohorts=(2004,))
    with pytest.raises(DiDInputError, match="no comparison group exists"):
        did(d, **ARGS, control="notyettreated")


def test_unknown_column_suggests_close_names():
    d = _panel()
    with pytest.raises(DiDInputError, match=r"outcome column 'yy' is not in the data; did you mean 'y'"):
        did(d, "yy", "id", "year", "g")
    with pytest.raises(DiDInputError, match=r"covariate column 'xx'.*did you mean 'x'"):
        did(d, **ARGS, covariates=["xx"])


def test_duplicates_varying_cohort_and_options():
    d = _panel()
    with pytest.raises(DiDInputError, match="duplicated"):
        did(pd.concat([d, d.iloc[:2]]), **ARGS)
    d2 = d.copy()
    d2.loc[(d2["id"] == 4) & (d2["year"] == 2006), "g"] = 2005
    with pytest.raises(DiDInputError, match=r"cohort column 'g' must be constant within each unit; it varies for units 4$"):
        did(d2, **ARGS)
    with pytest.raises(DiDInputError, match="est_method"):
        did(d, **ARGS, est_method="aipw")
    with pytest.raises(DiDInputError, match="control"):
        did(d, **ARGS, control="never")
    with pytest.raises(DiDInputError, match="exactly one of cohort"):
        did(d, "y", "id", "year")
    with pytest.raises(DiDInputError, match="method"):
        did(d, **ARGS, method="bjs")
    with pytest.raises(DiDInputError, match="balance_e"):
        did(d, **ARGS, balance_e=-1)


def test_collinear_covariate_names_the_cell():
    d = _panel().assign(x2=lambda f: 2 * f["x"])
    with pytest.raises(DiDInputError, match=r"ATT\(2003,2002\).*singular"):
        did(d, **ARGS, covariates=["x", "x2"], est_method="reg")


def test_first_period_treated_units_dropped_with_warning():
    d = _panel(n_per=(3, 6, 6, 8), cohorts=(2001, 2003, 2005, 0))
    res = did(d, **ARGS, aggregate="simple")
    assert res.stats["n_units"] == 20
    assert any("dropped 3 units treated in the first period" in w for w in res.warnings)


@pytest.mark.parametrize("bootstrap", [False, True])
def test_non_finite_influence_function_is_an_error_not_a_zero_se(monkeypatch, bootstrap):
    """A NaN in one cell's influence function used to become SE 0 (analytic) or a dropped SE (bootstrap)."""
    import fiproxy.estimators.did_cs as did_cs

    real = did_cs.att_2x2
    calls = []

    def nan_in_third_cell(*args, **kwargs):
        att, inf = real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            inf = inf.copy()
            inf[0] = np.nan
        return att, inf

    monkeypatch.setattr(did_cs, "att_2x2", nan_in_third_cell)
    with pytest.raises(FloatingPointError, match="non-finite influence function"):
        did(_panel(), **(ARGS | {"bootstrap": bootstrap, "biters": 99, "seed": 1}))
    monkeypatch.setattr(did_cs, "att_2x2", real)
    res = did(_panel(), **(ARGS | {"bootstrap": bootstrap, "biters": 99, "seed": 1}))
    assert np.isfinite(res.vcov.to_numpy()).all()
