"""Random province x year tables and their text renderings, shared by the fuzz tests.

A drawn table holds known values; :func:`cells` renders each the way a publisher may write it
(full-width digits, thousands separators with commas or spaces, ASCII / full-width / U+2212
minus signs, placeholders —, …, -, empty), :func:`panels` spells each province in one of the
registry's forms (codes, adcodes, simplified, traditional, pinyin, English, aliases) and shuffles
the rows, and :func:`write_csv` writes the lines in a given encoding.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from fiproxy.data.registry import provinces
from fiproxy.data.sources.base import SourceTable

FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_REG = provinces()
CODES = [int(c) for c in _REG.index]
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030")
PLACEHOLDER_CELLS = ("", "—", "——", "…", "...", "-", "--")
AGGREGATES = ("全国", "全国合计", "中国", "东部地区", "西部地区")
_FULLWIDTH = str.maketrans("0123456789.,-", "０１２３４５６７８９．，－")


def spellings(code: int) -> list[str]:
    """Every way the registry promises to read a province: codes, simplified, traditional, romanised."""
    r = _REG.loc[code]
    names = [str(code), f"{code}0000", r.name_zh, r.short_zh, r.name_trad, r.short_trad, r.pinyin, r.name_en]
    names += [a for a in str(r.aliases).split(";") if a and a != "nan"]
    return list(dict.fromkeys(names))


# ------------------------------------------------------------------------------------- values
@dataclass(frozen=True)
class Cell:
    """A true value (NaN for missing) and its text in the file."""

    value: float
    text: str


@st.composite
def cells(draw, encoding: str) -> Cell:
    if draw(st.integers(0, 5)) == 0:
        return Cell(math.nan, draw(st.sampled_from(PLACEHOLDER_CELLS)))
    n = draw(st.integers(-10**8, 10**8))
    d = draw(st.integers(0, 3))
    value = n / 10**d
    style = draw(st.sampled_from(["plain", "thousands", "space-thousands", "fullwidth", "fullwidth-thousands"]))
    text = f"{abs(value):,.{d}f}" if "thousands" in style else f"{abs(value):.{d}f}"
    if style == "space-thousands":
        text = text.replace(",", " ")
    if style.startswith("fullwidth"):
        text = text.translate(_FULLWIDTH)
    if value < 0:
        # U+2212 MINUS SIGN has no GBK code; the ASCII and full-width hyphen-minus work everywhere
        signs = ["-", "－"] + (["\u2212"] if encoding != "gbk" else [])
        text = draw(st.sampled_from(signs)) + text
    return Cell(value, text)


def year_text(draw, year: int) -> str:
    form = draw(st.sampled_from(["{}", "{}年", "fw{}年", "fw{}"]))
    text = form.removeprefix("fw").format(year)
    return text.translate(_FULLWIDTH) if form.startswith("fw") else text


@dataclass
class Truth:
    """The table a file was made from: {(prov_code, year): {variable: value}}."""

    values: dict = field(default_factory=dict)

    def check(self, table: SourceTable, columns: list[str], truth_names: list[str] | None = None) -> None:
        """The table holds exactly the drawn keys, and ``columns`` the drawn values (``truth_names``)."""
        d = table.data
        assert d["prov_code"].dtype == np.int64 and d["year"].dtype == np.int64
        got = {(int(p), int(y)): row for p, y, row in zip(d["prov_code"], d["year"],
                                                            d[columns].to_numpy(dtype=float))}
        assert set(got) == set(self.values), (sorted(set(got) ^ set(self.values)))
        for key, expect in self.values.items():
            want = np.array([expect[c] for c in (truth_names or columns)], dtype=float)
            np.testing.assert_array_equal(got[key], want, err_msg=f"{key}")  # exact: decimal text -> float


@st.composite
def panels(draw, n_vars: int, max_provinces: int = 5, max_years: int = 4, encoding: str = "utf-8"):
    """(truth, rows) with rows = [(province text, year, year text, [Cell per variable])] shuffled."""
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=max_provinces, unique=True))
    years = draw(st.lists(st.integers(2005, 2024), min_size=1, max_size=max_years, unique=True))
    truth, rows = Truth(), []
    for c in codes:
        for y in years:
            vals = [draw(cells(encoding)) for _ in range(n_vars)]
            rows.append([draw(st.sampled_from(spellings(c))), y, year_text(draw, y), vals])
            truth.values[(c, y)] = {f"v{j}": v.value for j, v in enumerate(vals)}
    order = draw(st.permutations(range(len(rows))))
    return truth, [rows[i] for i in order], codes, years


# ------------------------------------------------------------------------------------- writing
def write_csv(path: Path, lines: list[list[str]], encoding: str, newline: str = "\n", delimiter: str = ",") -> dict:
    """Write ``lines`` (a list of cell lists; [] is a blank line) and return {line index: file row}."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline, delimiter=delimiter)
    for cells_ in lines:
        w.writerow(cells_)
    path.write_bytes(buf.getvalue().encode(encoding))
    return {i: i + 1 for i in range(len(lines))}  # no cell holds a line break: one line per row
