"""validate_panel: every kind of problem is reported with a message naming variable and cells."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fiproxy.data import simulate_panel, validate_panel
from fiproxy.data.validate import PanelValidationError


@pytest.fixture
def frame():
    return pd.DataFrame({
        "prov_code": [11, 11, 12, 12, 99, 31],
        "year": [2011, 2011, 2011, 2012, 2011, 2011],
        "loans": [1.0, 2.0, -5.0, 3.0, 1.0, np.nan],
        "urbanization": [0.5, 0.6, 1.7, 0.4, 0.3, 0.2],
        "pilot": [0.0, 1.0, 2.0, 0.0, 0.0, 1.0],
        "gdp": [1.0, np.inf, 1.0, 1.0, 1.0, 1.0],
    })


def test_each_problem_reported(frame):
    rep = validate_panel(frame)
    by = {p.kind: p for p in rep.problems}
    assert not rep.ok
    assert by["duplicate_key"].message == "duplicate keys: 1 (prov_code, year) pair(s) appear more than once: 11/2011"
    assert "unknown provinces: prov_code 99 not among the 31 registry provinces (1 rows)" == by["unknown_province"].message
    assert by["negative"].variable == "loans" and "12/2011" in by["negative"].message and "cannot be negative" in by["negative"].message
    assert by["share_range"].variable == "urbanization" and "max 1.7" in by["share_range"].message
    assert "percent given instead of a fraction" in by["share_range"].message
    assert by["not_binary"].variable == "pilot" and by["not_binary"].cells == ((12, 2011),)
    assert by["non_finite"].variable == "gdp" and by["non_finite"].cells == ((11, 2011),)
    gap = [p for p in rep.gaps if p.variable == "loans"][0]
    assert gap.message.startswith("loans: 1 of 6 cells missing") and "31/2011" in gap.message
    assert rep.to_frame().shape[0] == len(rep.problems)
    with pytest.raises(PanelValidationError, match="duplicate keys"):
        rep.raise_for_errors()
    assert "error(s)" in str(rep)


def test_missing_key_column_with_hint():
    rep = validate_panel(pd.DataFrame({"prov": [11], "year": [2011], "x": [1.0]}))
    assert [p.kind for p in rep.problems] == ["missing_key"]
    assert "key column 'prov_code' missing (close: prov)" in rep.problems[0].message


def test_custom_province_list_and_clean_frame():
    df = pd.DataFrame({"prov_code": [1, 2], "year": [2011, 2011], "loans": [1.0, 2.0]})
    assert validate_panel(df, provinces=[1, 2]).ok
    assert not validate_panel(df).ok  # 1 and 2 are not GB/T 2260 province codes


def test_whole_year_gap_message_and_panel_reasons():
    p = simulate_panel(seed=3)
    rep = validate_panel(p)
    assert rep.ok and not rep.problems
    df = p.data.copy()
    df.loc[df["year"] == 2011, "loans"] = np.nan
    msg = [x for x in validate_panel(df).gaps if x.variable == "loans"][0].message
    assert msg == "loans: 31 of 403 cells missing (all provinces in 2011)"
