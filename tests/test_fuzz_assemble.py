"""Property-based tests of panel assembly on files read by the loaders (hypothesis).

Random loan and GDP tables are written as files (random encoding, spelling of provinces,
number formats, placeholders, row order), read with the loaders and merged by
:func:`fiproxy.data.build_panel`. Properties:

- every drawn value lands on its (prov_code, year) cell; every other cell is missing and is
  listed in ``Panel.gaps`` with the right reason (missing in the source / outside its years);
  nothing is filled in;
- the derived ratio loans/GDP and a requested lag equal the same arithmetic on the drawn values;
- the panel does not depend on the row order of the files, their encodings, the spelling of
  provinces or the order of the sources;
- one variable from two sources is rejected, naming both.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from _fuzz_tables import ENCODINGS, FAST, panels, spellings, write_csv
from hypothesis import given, settings
from hypothesis import strategies as st

from fiproxy.data import build_panel
from fiproxy.data.registry import resolve_province
from fiproxy.data.sources.nbs import load_nbs
from fiproxy.data.sources.tidy import load_tidy_csv

ASSEMBLY = settings(FAST, max_examples=12)  # a build_panel call costs ~0.1 s


def _write_tidy(path: Path, rows, encoding: str, order) -> Path:
    lines = [["省份", "year", "value"]] + [[rows[i][0], rows[i][2], rows[i][3][0].text] for i in order]
    write_csv(path, lines, encoding)
    return path


def _write_nbs_long(path: Path, rows, encoding: str, order) -> Path:
    lines = [["数据库：分省年度数据"], [], ["地区", "年份", "v(亿元)"]]
    lines += [[rows[i][0], rows[i][2], rows[i][3][0].text] for i in order]
    lines.append(["数据来源：国家统计局"])
    write_csv(path, lines, encoding)
    return path


def _load_pair(tmp: Path, loans_rows, gdp_rows, draw, tag: str):
    """Write loans as a tidy CSV and GDP as an NBS export (random encodings and row orders); load both."""
    enc_l, enc_g = draw(st.sampled_from(ENCODINGS)), draw(st.sampled_from(ENCODINGS))
    lp = _write_tidy(tmp / f"loans_{tag}.csv", loans_rows, enc_l, draw(st.permutations(range(len(loans_rows)))))
    gp = _write_nbs_long(tmp / f"gdp_{tag}.csv", gdp_rows, enc_g, draw(st.permutations(range(len(gdp_rows)))))
    loans = load_tidy_csv(lp, mapping={"value": "loans"}, release="loans-r1", name="loans_src")
    gdp = load_nbs(gp, variable="gdp", release="gdp-r1")
    return loans, gdp


def _truth(truth) -> dict:
    return {k: v["v0"] for k, v in truth.values.items()}


def _span(values: dict):
    years = [y for (_, y), v in values.items() if not math.isnan(v)]
    return (min(years), max(years)) if years else None


def _check_panel(panel, loans: dict, gdp: dict, years: tuple[int, int]) -> None:
    first, last = years
    d = panel.data
    assert d["prov_code"].nunique() == 31 and set(d["year"]) == set(range(first, last + 1))
    assert len(d) == 31 * (last - first + 1)
    idx = d.set_index(["prov_code", "year"])
    gaps = panel.gaps.set_index(["variable", "prov_code", "year"])["reason"]
    for name, truth, src in (("loans", loans, "loans_src"), ("gdp", gdp, "gdp")):
        col = idx[name]
        span = _span(truth)
        for (p, y), got in col.items():
            want = truth.get((p, y), math.nan)
            if math.isnan(want):
                assert math.isnan(got), (name, p, y, got)
                reason = gaps[(name, p, y)]
                if span is None:
                    assert "has no values" in reason
                elif span[0] <= y <= span[1]:
                    assert reason == f"missing in {src}", reason
                else:
                    assert reason == f"outside the years of {src} ({span[0]}-{span[1]})", reason
            else:
                assert got == want, (name, p, y)
                assert (name, p, y) not in gaps.index
    # derived ratio and lag: the same arithmetic on the drawn values, NaN where undefined
    for (p, y), got in idx["loans_gdp"].items():
        a, b = loans.get((p, y), math.nan), gdp.get((p, y), math.nan)
        want = a / b if not (math.isnan(a) or math.isnan(b) or b == 0) else math.nan
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-15), (p, y, got, want)
        lag = loans.get((p, y - 1), math.nan)
        assert (math.isnan(idx.at[(p, y), "loans_lag1"]) and math.isnan(lag)) or idx.at[(p, y), "loans_lag1"] == lag
    assert panel.meta["loans"].release == "loans-r1" and panel.meta["gdp"].release == "gdp-r1"
    assert not panel.simulated


@ASSEMBLY
@given(data=st.data())
def test_values_gaps_and_derivations_follow_the_files(data):
    draw = data.draw
    loans_truth, loans_rows, _, _ = draw(panels(1, max_provinces=6, max_years=5, encoding="gbk"))
    gdp_truth, gdp_rows, _, _ = draw(panels(1, max_provinces=6, max_years=5, encoding="gbk"))
    all_years = sorted({y for (_, y) in loans_truth.values} | {y for (_, y) in gdp_truth.values})
    first = draw(st.sampled_from(all_years))
    last = draw(st.sampled_from([y for y in all_years if y >= first]))
    with tempfile.TemporaryDirectory() as tmp:
        loans, gdp = _load_pair(Path(tmp), loans_rows, gdp_rows, draw, "a")
        panel = build_panel([loans, gdp], years=(first, last), derive=["lag(loans)"])
    _check_panel(panel, _truth(loans_truth), _truth(gdp_truth), (first, last))


def _sorted(panel) -> tuple[pd.DataFrame, pd.DataFrame]:
    d = panel.data[sorted(panel.data.columns)]
    g = panel.gaps.sort_values(["variable", "prov_code", "year"], ignore_index=True)
    return d, g


@ASSEMBLY
@given(data=st.data())
def test_panel_invariant_to_row_order_encoding_spelling_and_source_order(data):
    draw = data.draw
    loans_truth, loans_rows, _, _ = draw(panels(1, max_provinces=5, max_years=4, encoding="gbk"))
    gdp_truth, gdp_rows, _, _ = draw(panels(1, max_provinces=5, max_years=4, encoding="gbk"))
    years = (2005, 2024)
    # the second rendering: other encodings, other row orders, other spellings of the same provinces
    respelled = []
    for rows in (loans_rows, gdp_rows):
        respelled.append([[draw(st.sampled_from(spellings(resolve_province(r[0])))), *r[1:]] for r in rows])
    with tempfile.TemporaryDirectory() as tmp:
        a = build_panel(list(_load_pair(Path(tmp), loans_rows, gdp_rows, draw, "a")), years=years)
        loans_b, gdp_b = _load_pair(Path(tmp), *respelled, draw, "b")
        b = build_panel([gdp_b, loans_b], years=years)
    da, ga = _sorted(a)
    db, gb = _sorted(b)
    pd.testing.assert_frame_equal(da, db, check_exact=True)
    pd.testing.assert_frame_equal(ga, gb, check_exact=True)
    assert {k: v.release for k, v in a.meta.items()} == {k: v.release for k, v in b.meta.items()}


@ASSEMBLY
@given(data=st.data())
def test_one_variable_from_two_sources_is_rejected(data):
    draw = data.draw
    _, rows, _, _ = draw(panels(1, max_provinces=3, max_years=2, encoding="gbk"))
    with tempfile.TemporaryDirectory() as tmp:
        loans, gdp = _load_pair(Path(tmp), rows, rows, draw, "a")
        again = load_tidy_csv(_write_tidy(Path(tmp) / "loans2.csv", rows, "gbk", range(len(rows))),
                              mapping={"value": "loans"}, name="loans_other")
    with pytest.raises(ValueError, match=r"column 'loans' comes from two sources .*loans_src.*loans_other"):
        build_panel([loans, gdp, again], years=(2005, 2024))
