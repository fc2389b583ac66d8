"""Property-based tests of the source loaders (hypothesis).

Each example draws a small province x year table of known values, writes it the way a
publisher or a user might (UTF-8, UTF-8 with BOM, GBK or GB18030; title lines and footnotes;
full-width digits, thousands separators, placeholder cells such as —, …, -, empty; shuffled
rows; codes, simplified, traditional, pinyin and English province names; aggregate rows) and
checks that the loader returns exactly those values. Corrupted variants (a cell that is not a
number, a repeated province–year, an unknown province) must raise ``SourceFormatError`` whose
message names the file, the file row of the bad cell and the problem.

The files are made in a temporary folder at test time; example counts are kept small so that
each property runs in a few seconds (``deadline=None``: the first example pays OpenCC and
charset-normalizer start-up).
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path

import pytest
from _fuzz_tables import AGGREGATES, ENCODINGS, FAST, Cell, panels, spellings, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from fiproxy.data.registry import resolve_province
from fiproxy.data.sources.base import SourceFormatError
from fiproxy.data.sources.nbs import load_nbs
from fiproxy.data.sources.pku_dfiic import load_pku_dfiic
from fiproxy.data.sources.tidy import load_tidy_csv


def write_xlsx(path: Path, lines: list[list]) -> None:
    wb = Workbook()
    ws = wb.active
    for cells_ in lines:
        ws.append(cells_ if cells_ else [None])
    wb.save(path)


CORRUPTIONS = {  # the problem each corruption must be reported as
    "bad-number": r"is not a number",
    "duplicate": r"duplicate .*also at row \d+",
    "unknown-province": r"unknown province|is not a (GB/T 2260 )?province code",
}


def corrupt(draw, lines: list[list], data_rows: list[int], value_cols: list[int], prov_col: int,
            allowed=("none", "bad-number", "duplicate", "unknown-province")) -> tuple[str, int | None]:
    """Damage one data line in place; returns (kind, file row expected in the error)."""
    kind = draw(st.sampled_from(allowed))
    if kind == "none":
        return kind, None
    i = draw(st.sampled_from(data_rows))
    if kind == "bad-number":
        lines[i][draw(st.sampled_from(value_cols))] = draw(st.sampled_from(["12a", "1.2.3", "abc", "1e", "3-4", "１２元"]))
        return kind, i + 1
    if kind == "unknown-province":
        lines[i][prov_col] = draw(st.sampled_from(["北就市", "Atlantis", "深圳特区", "99"]))
        return kind, i + 1
    # a second row for the same province and year, spelled differently, placed after the first
    dup = list(lines[i])
    code = _code_of(lines[i][prov_col])
    dup[prov_col] = draw(st.sampled_from(spellings(code)))
    j = draw(st.integers(i + 1, max(data_rows) + 1))
    lines.insert(j, dup)
    return kind, j + 1


def _code_of(text) -> int:
    return resolve_province(text)


def expect_error(load, path: Path, kind: str, row: int) -> None:
    with pytest.raises(SourceFormatError) as err:
        load()
    msg = str(err.value)
    assert path.name in msg and re.search(CORRUPTIONS[kind], msg), msg
    assert err.value.row == row, (msg, row)
    assert f"row {row}" in msg


# ------------------------------------------------------------------------------------- NBS wide
@FAST
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS))
def test_nbs_wide_export_round_trip(data, encoding):
    draw = data.draw
    truth, rows, codes, years = draw(panels(1, encoding=encoding))
    # reshape the long draw into the portal's provinces x years grid
    by_prov: dict[int, dict] = {}
    label: dict[int, str] = {}
    ytext: dict[int, str] = {}
    for prov, y, yt, vals in rows:
        c = _code_of(prov)
        label.setdefault(c, prov)
        ytext.setdefault(y, yt)
        by_prov.setdefault(c, {})[y] = vals[0].text
    year_order = draw(st.permutations(years))
    lines: list[list[str]] = []
    if draw(st.booleans()):
        lines += [["数据库：分省年度数据"], ["指标：存款余额(亿元)"], ["时间：最近5年"]]
        if draw(st.booleans()):
            lines.append([])
    header_row = len(lines)
    lines.append([draw(st.sampled_from(["地区", "省份", "地区名称"]))] + [ytext[y] for y in year_order])
    first_data = len(lines)
    prov_order = draw(st.permutations(list(by_prov)))
    agg_at = draw(st.integers(0, len(prov_order))) if draw(st.booleans()) else None
    for k, c in enumerate(prov_order):
        if k == agg_at:
            lines.append([draw(st.sampled_from(AGGREGATES))] + ["1"] * len(year_order))
        lines.append([label[c]] + [by_prov[c][y] for y in year_order])
    data_rows = [i for i in range(first_data, len(lines)) if lines[i][0] not in AGGREGATES]
    if draw(st.booleans()):
        lines += [["注：本表数据为示例。"], ["数据来源：国家统计局"]]
    kind, row = corrupt(draw, lines, data_rows, list(range(1, len(year_order) + 1)), 0)
    delimiter = draw(st.sampled_from([",", "\t"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"nbs_wide_{encoding}.csv"
        write_csv(path, lines, encoding, draw(st.sampled_from(["\n", "\r\n"])), delimiter)
        load = lambda: load_nbs(path, variable="v0")  # noqa: E731
        if kind != "none":
            expect_error(load, path, kind, row)
            return
        t = load()
    truth.check(t, ["v0"])
    assert any(f"header at row {header_row + 1}" in n for n in t.notes)


# ------------------------------------------------------------------------------------- NBS long
@FAST
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS))
def test_nbs_long_export_round_trip(data, encoding):
    draw = data.draw
    truth, rows, codes, years = draw(panels(2, encoding=encoding))
    lines: list[list[str]] = []
    if draw(st.booleans()):
        lines += [["数据库：分省年度数据"], []]
    lines.append(["地区", draw(st.sampled_from(["年份", "时间", "year"])), "v0(亿元)", "v1"])
    first = len(lines)
    for prov, y, yt, vals in rows:
        lines.append([prov, yt] + [v.text for v in vals])
    if draw(st.booleans()):
        lines.insert(draw(st.integers(first, len(lines))), [draw(st.sampled_from(AGGREGATES)), "2020", "1", "2"])
    data_rows = [i for i in range(first, len(lines)) if lines[i][0] not in AGGREGATES]
    kind, row = corrupt(draw, lines, data_rows, [2, 3], 0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nbs_long.csv"
        write_csv(path, lines, encoding)
        if kind != "none":
            expect_error(lambda: load_nbs(path), path, kind, row)
            return
        t = load_nbs(path)
    assert list(t.columns) == ["v0", "v1"] and t.columns["v0"].unit == "亿元"
    truth.check(t, ["v0", "v1"])


# ------------------------------------------------------------------------------------- tidy CSV
@FAST
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS))
def test_tidy_csv_round_trip(data, encoding):
    draw = data.draw
    truth, rows, codes, years = draw(panels(2, encoding=encoding))
    prov_col = draw(st.sampled_from(["省份", "province", "地区", "prov_name"]))
    lines: list[list[str]] = [[prov_col, "year", "a", "b"]]
    for prov, y, yt, vals in rows:
        lines.append([prov, yt] + [v.text for v in vals])
    if draw(st.booleans()):
        lines.insert(draw(st.integers(1, len(lines))), [draw(st.sampled_from(AGGREGATES)), "2020", "1", "2"])
    data_rows = [i for i in range(1, len(lines)) if lines[i][0] not in AGGREGATES]
    kind, row = corrupt(draw, lines, data_rows, [2, 3], 0)
    junk = draw(st.sampled_from([None, ["数据库：分省年度数据"], ["指标：存款", "", "", ""]]))
    if junk:  # a tidy table has one header line: title lines above it are rejected, never read as data
        lines.insert(0, junk)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tidy.csv"
        write_csv(path, lines, encoding, draw(st.sampled_from(["\n", "\r\n"])))
        load = lambda: load_tidy_csv(path, mapping={"a": "v0", "b": "v1"})  # noqa: E731
        if junk:
            with pytest.raises(SourceFormatError, match=re.escape(path.name)):
                load()
            return
        if kind != "none":
            expect_error(load, path, kind, row)
            return
        t = load()
    truth.check(t, ["v0", "v1"])


@FAST
@given(data=st.data())
def test_tidy_csv_blank_lines_keep_row_numbers(data):
    """Blank lines between records must not shift the row an error names."""
    draw = data.draw
    truth, rows, codes, years = draw(panels(1))
    lines: list[list[str]] = [["province", "year", "a"]]
    for prov, y, yt, vals in rows:
        if draw(st.integers(0, 3)) == 0:
            lines.append([])
        lines.append([prov, yt, vals[0].text])
    data_rows = [i for i in range(1, len(lines)) if lines[i]]
    kind, row = corrupt(draw, lines, data_rows, [2], 0, allowed=("none", "bad-number", "unknown-province"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blank.csv"
        write_csv(path, lines, "utf-8")
        load = lambda: load_tidy_csv(path, mapping={"a": "v0"})  # noqa: E731
        if kind != "none":
            expect_error(load, path, kind, row)
            return
        truth.check(load(), ["v0"])


# ------------------------------------------------------------------------------------- PKU-DFIIC
PKU_HEADERS = {
    "year": ("year", "年份"),
    "prov_code": ("prov_code", "省份代码"),
    "prov_name": ("prov_name", "省份"),
    "v0": ("index_aggregate", "总指数"),
    "v1": ("coverage_breadth", "覆盖广度"),
}


@FAST
@given(data=st.data(), encoding=st.sampled_from(ENCODINGS))
def test_pku_csv_round_trip(data, encoding):
    draw = data.draw
    truth, rows, codes, years = draw(panels(2, encoding=encoding))
    zh = int(draw(st.booleans()))
    by_code = draw(st.booleans())
    key = "prov_code" if by_code else "prov_name"
    lines: list[list[str]] = [[PKU_HEADERS[k][zh] for k in ("year", key, "v0", "v1")]]
    for prov, y, yt, vals in rows:
        p = str(_code_of(prov)) if by_code else prov
        lines.append([yt, p] + [v.text for v in vals])
    kind, row = corrupt(draw, lines, list(range(1, len(lines))), [2, 3], 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pku.csv"
        write_csv(path, lines, encoding)
        if kind != "none":
            expect_error(lambda: load_pku_dfiic(path), path, kind, row)
            return
        t = load_pku_dfiic(path)
    truth.check(t, ["index_aggregate", "coverage_breadth"], ["v0", "v1"])


# ------------------------------------------------------------------------------------- spreadsheets
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_nbs_and_pku_workbooks_round_trip(data):
    """Spreadsheets: numbers stored as numbers or as text, a merged-title row, header junk."""
    draw = data.draw
    truth, rows, codes, years = draw(panels(1))

    def cell(c: Cell):
        if math.isnan(c.value):
            return draw(st.sampled_from([None, "—", "…", "-"]))
        return c.value if draw(st.booleans()) else c.text

    nbs = [["各地区存款余额（示例）"], [], ["地区", "年份", "v0"]]
    first = len(nbs)
    for prov, y, yt, vals in rows:
        nbs.append([prov, draw(st.sampled_from([y, yt])), cell(vals[0])])
    nbs.append(["注：示例数据。"])
    pku = [["北京大学数字普惠金融指数（示例）"], ["year", "prov_name", "index_aggregate"], ["年份", "省份", "总指数"]]
    for prov, y, yt, vals in rows:
        pku.append([y, prov, cell(vals[0])])
    kind, row = corrupt(draw, nbs, list(range(first, first + len(rows))), [2], 0)
    with tempfile.TemporaryDirectory() as tmp:
        p_nbs, p_pku = Path(tmp) / "nbs.xlsx", Path(tmp) / "pku.xlsx"
        write_xlsx(p_nbs, nbs)
        write_xlsx(p_pku, pku)
        truth.check(load_pku_dfiic(p_pku, sheet=0), ["index_aggregate"], ["v0"])
        if kind != "none":
            expect_error(lambda: load_nbs(p_nbs), p_nbs, kind, row)
            return
        truth.check(load_nbs(p_nbs), ["v0"])
