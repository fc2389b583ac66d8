"""National Bureau of Statistics (国家统计局) exports: data portal (data.stats.gov.cn,
"分省年度数据") downloads and statistical-yearbook tables, provinces as rows.

Accepted files: CSV (UTF-8 with or without BOM, GBK / GB18030, or what charset-normalizer
detects) and spreadsheets (.xlsx, .xls, .ods). The table may be preceded by title lines
(``数据库：分省年度数据``, ``指标：地区生产总值(亿元)``, ``时间：最近10年``, a merged title cell)
and followed by footnotes (``注：…``, ``数据来源：国家统计局``), which end the table. Three layouts:

wide
    a header row ``地区, 2022年, 2021年, …`` (years as columns; the variable is named by the
    ``指标：`` title line or ``variable=``);
long
    a header with a province column (地区/省份/province) and a year column (年份/时间/year), and
    either one column per variable or an indicator column (指标) with a value column (数值);
cross-section
    a yearbook table for one year: a province column and one column per variable, the year
    taken from the title (``各地区地区生产总值（2022年）``).

Placeholders (—, …, -, empty) become NaN; full-width digits and thousands separators are
parsed; national and regional aggregate rows (全国, 东部地区 …) are dropped and recorded in
``SourceTable.notes``. An unknown province, a duplicate province–year, a cell that is not a
number or a header that fits no layout raises :class:`SourceFormatError` naming file and row.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._parse import (
    clean_cell,
    first_duplicate,
    parse_year,
    read_sheet,
    read_text,
    split_unit,
    to_float,
    to_prov_code,
    to_year,
)
from .base import ColumnMeta, SourceFormatError, SourceTable, file_record

__all__ = ["load_nbs"]

DEFAULT_SOURCE = "National Bureau of Statistics of China (国家统计局)"
_SPREADSHEET = {".xlsx", ".xlsm", ".xls", ".ods"}


def _labels(*names: str) -> frozenset[str]:
    return frozenset(_key(n) for n in names)


def _key(text: str) -> str:
    return re.sub(r"\s+", "", clean_cell(text)).lower()


PROVINCE_LABELS = _labels("地区", "省份", "省市", "省区", "省区市", "省(区、市)", "省(自治区、直辖市)", "地区名称",
                          "省份名称", "省", "province", "region", "area", "prov", "provname")
YEAR_LABELS = _labels("年份", "时间", "年", "年度", "year", "time", "period")
INDICATOR_LABELS = _labels("指标", "指标名称", "indicator", "variable")
VALUE_LABELS = _labels("数值", "值", "数据", "value")
UNIT_LABELS = _labels("单位", "计量单位", "unit")
_FOOTNOTE = re.compile(r"^(注|附注|数据来源|资料来源|来源|说明|备注|note|notes|source|sources)\s*\d*\s*[:.、]",
                       re.IGNORECASE)
_TITLE_KV = re.compile(r"^(数据库|指标|时间|地区|单位|database|indicator|time|region|unit)\s*:\s*(.*)$", re.IGNORECASE)
_TITLE_YEAR = re.compile(r"(\d{4})\s*年")


def _read_rows(path: Path, sheet, encoding) -> tuple[list[tuple[int, list[str]]], str]:
    """Non-empty rows as (row number in the file, cleaned cells without trailing blanks)."""
    if path.suffix.lower() in _SPREADSHEET:
        raw_rows = enumerate(read_sheet(path, sheet), start=1)
        how = f"sheet {sheet!r}"
    else:
        text, enc = read_text(path, encoding)
        head = text[:4000]
        delimiter = "\t" if head.count("\t") > head.count(",") else ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        raw_rows = ((reader.line_num, r) for r in reader)
        how = f"encoding {enc}"
    rows = []
    for n, cells in raw_rows:
        cleaned = [clean_cell(c) for c in cells]
        while cleaned and cleaned[-1] == "":
            cleaned.pop()
        if cleaned:
            rows.append((n, cleaned))
    return rows, how


def _classify_header(cells: list[str]) -> dict:
    keys = [_key(c) for c in cells]
    return {
        "province": [i for i, k in enumerate(keys) if k in PROVINCE_LABELS],
        "year": [i for i, k in enumerate(keys) if k in YEAR_LABELS],
        "years": {i: y for i, c in enumerate(cells) if (y := parse_year(c)) is not None},
        "indicator": [i for i, k in enumerate(keys) if k in INDICATOR_LABELS],
        "value": [i for i, k in enumerate(keys) if k in VALUE_LABELS],
        "unit": [i for i, k in enumerate(keys) if k in UNIT_LABELS],
    }


def _find_header(rows, path) -> int:
    for i, (n, cells) in enumerate(rows):
        if sum(c != "" for c in cells) < 2 or _FOOTNOTE.match(cells[0]):
            continue  # title line (a merged title cell reads as one non-empty cell)
        h = _classify_header(cells)
        if h["province"] or h["years"]:
            return i
        raise SourceFormatError(path, f"expected a header row naming the province column (地区/省份) or years "
                                      f"(2022年), found {cells[:6]}", row=n)
    raise SourceFormatError(path, "no header row found (expected 地区 and years such as 2022年)")


def _single(idx: list[int], what: str, path, row: int) -> int:
    if len(idx) > 1:
        raise SourceFormatError(path, f"more than one {what} column", row=row)
    return idx[0]


def _long_frame(rows, header, h, path, titles) -> tuple[pd.DataFrame, str]:
    """(row, province, year, variable, raw value) records and the layout name."""
    hrow, hcells = header
    width = len(hcells)
    for n, cells in rows:
        if any(c != "" for c in cells[width:]):
            raise SourceFormatError(path, f"row has {len(cells)} cells but the header has {width}", row=n)
    body = pd.DataFrame([cells + [""] * (width - len(cells)) for _, cells in rows],
                        columns=range(width), dtype=object)
    body.insert(0, "_row", [n for n, _ in rows])

    if h["years"]:  # wide: provinces × years
        if h["year"]:
            raise SourceFormatError(path, "header has both a year column and year columns", row=hrow)
        prov = _single(h["province"], "province", path, hrow) if h["province"] else 0
        if prov in h["years"]:
            raise SourceFormatError(path, "the first column is a year; expected province names there", row=hrow)
        ycols = h["years"]
        seen: dict[int, int] = {}
        for i, y in ycols.items():
            if y in seen:
                raise SourceFormatError(path, f"year {y} appears in two header columns "
                                              f"({hcells[seen[y]]!r}, {hcells[i]!r})", row=hrow)
            seen[y] = i
        extra = [hcells[i] for i in range(width) if i != prov and i not in ycols and i not in h["unit"]
                 and hcells[i] != ""]
        if extra:
            raise SourceFormatError(path, f"header cells {extra} are neither years nor the province column", row=hrow)
        long = body.melt(id_vars=["_row", prov], value_vars=list(ycols), var_name="_col", value_name="_value")
        long["_year"] = long["_col"].map(ycols)
        long["_var"] = ""
        return long.rename(columns={prov: "_prov"})[["_row", "_prov", "_year", "_var", "_value"]], "wide"

    prov = _single(h["province"], "province", path, hrow)
    skip = {prov, *h["unit"]}
    if h["year"]:
        ycol = _single(h["year"], "year", path, hrow)
        skip.add(ycol)
        body["_year"] = body[ycol]
        layout = "long"
    else:
        years = {int(y) for _, t in titles for y in _TITLE_YEAR.findall(" ".join(t))}
        if len(years) != 1:
            raise SourceFormatError(path, "no year: the header has no year columns (2022年) or year column "
                                          f"(年份), and the title names {'no year' if not years else sorted(years)}",
                                    row=hrow)
        body["_year"] = years.pop()
        layout = "cross-section"
    if h["indicator"] or h["value"]:
        if not (h["indicator"] and h["value"]):
            raise SourceFormatError(path, "an indicator column (指标) needs a value column (数值) and vice versa",
                                    row=hrow)
        icol = _single(h["indicator"], "indicator", path, hrow)
        vcol = _single(h["value"], "value", path, hrow)
        skip |= {icol, vcol}
        body["_var"] = body[icol]
        body["_value"] = body[vcol]
        unused = [hcells[i] for i in range(width) if i not in skip and hcells[i] != ""]
        if unused:
            raise SourceFormatError(path, f"unexpected columns {unused} beside the indicator/value columns", row=hrow)
        return body.rename(columns={prov: "_prov"})[["_row", "_prov", "_year", "_var", "_value"]], layout
    vcols = [i for i in range(width) if i not in skip]
    blank = [i + 1 for i in vcols if hcells[i] == ""]
    if blank:
        raise SourceFormatError(path, f"header cells in columns {blank} are empty", row=hrow)
    names = [hcells[i] for i in vcols]
    if len(set(names)) != len(names):
        raise SourceFormatError(path, f"repeated column names in {names}", row=hrow)
    long = body.melt(id_vars=["_row", prov, "_year"], value_vars=vcols, var_name="_col", value_name="_value")
    long["_var"] = long["_col"].map(dict(zip(vcols, names)))
    return long.rename(columns={prov: "_prov"})[["_row", "_prov", "_year", "_var", "_value"]], layout


def load_nbs(path, *, variable: str | None = None, unit: str | None = None, release: str | None = None,
             sheet=0, encoding: str | None = None, source: str | None = None) -> SourceTable:
    """Read one NBS data-portal or yearbook export into a tidy :class:`SourceTable`.

    Parameters
    ----------
    path : CSV or spreadsheet file.
    variable : our name for the value column when the file holds one variable (default: the
        indicator named in the ``指标：`` line, else the header, else the file stem).
    unit : unit of the values (default: the parenthesised unit of the indicator, e.g. 亿元).
    release : vintage label, e.g. "China Statistical Yearbook 2023" (default "unspecified").
    sheet : worksheet name or index for spreadsheets.
    encoding : force a text encoding instead of detecting it.
    source : publisher text (default: the file's ``数据来源：`` line, else NBS).
    """
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(path, "file not found")
    rows, how = _read_rows(path, sheet, encoding)
    if not rows:
        raise SourceFormatError(path, "file is empty")
    hi = _find_header(rows, path)
    titles, header = rows[:hi], rows[hi]
    body, footnotes = [], []
    for n, cells in rows[hi + 1:]:
        if footnotes or _FOOTNOTE.match(cells[0]):
            footnotes.append((n, cells))
        else:
            body.append((n, cells))
    if not body:
        raise SourceFormatError(path, "header row but no data rows", row=header[0])

    meta_lines: dict[str, str] = {}
    for _, cells in titles:
        m = _TITLE_KV.match(" ".join(c for c in cells if c))
        if m:
            meta_lines[m.group(1).lower()] = m.group(2).strip()
    source_text = source
    for _, cells in footnotes:
        m = re.match(r"^(数据来源|资料来源|来源|source|sources)\s*:\s*(.+)$", cells[0], re.IGNORECASE)
        if m and source_text is None:
            source_text = m.group(2).strip()

    h = _classify_header(header[1])
    long, layout = _long_frame(body, header, h, path, titles)

    codes, keep, dropped = to_prov_code(long["_prov"], long["_row"], path, column=header[1][0] or "地区")
    long = long.loc[keep].assign(prov_code=codes[keep])
    rows_arr = long["_row"].to_numpy()
    long["year"] = _years(long["_year"], rows_arr, path)
    long["_num"] = to_float(long["_value"], rows_arr, path, column="value")

    indicator = meta_lines.get("指标") or meta_lines.get("indicator")
    default_unit = meta_lines.get("单位") or meta_lines.get("unit") or ""
    if layout == "wide":
        label = indicator or variable or path.stem
        long["_var"] = label
    var_labels = list(dict.fromkeys(long["_var"]))
    if variable is not None and len(var_labels) > 1:
        raise SourceFormatError(path, f"variable= names one column but the file holds {len(var_labels)}: {var_labels}")

    columns: dict[str, ColumnMeta] = {}
    rename: dict[str, str] = {}
    for lab in var_labels:
        base, lab_unit = split_unit(lab)
        name = variable or base
        if name in columns:
            raise SourceFormatError(path, f"two columns named {name!r} after removing units")
        rename[lab] = name
        columns[name] = ColumnMeta(
            name=name,
            unit=unit if unit is not None else (lab_unit or default_unit),
            source=source_text or DEFAULT_SOURCE,
            release=release or "unspecified",
            description=lab if lab != name else (indicator or ""),
        )
    long["_var"] = long["_var"].map(rename)

    dup = first_duplicate(long[["prov_code", "year", "_var"]], rows_arr)
    if dup is not None:
        r1, r2, key = dup
        what = "province row" if layout == "wide" else "province–year"
        raise SourceFormatError(path, f"duplicate {what}: prov_code {key[0]}, year {key[1]} also at row {r1}", row=r2)

    data = (long.pivot(index=["prov_code", "year"], columns="_var", values="_num")
            .reindex(columns=list(columns)).reset_index().rename_axis(columns=None)
            .sort_values(["prov_code", "year"], ignore_index=True))
    data[["prov_code", "year"]] = data[["prov_code", "year"]].astype("int64")
    data[list(columns)] = data[list(columns)].astype("float64")

    notes = [f"read {path.name} ({how}, {layout} layout, header at row {header[0]})"]
    if titles:
        notes.append("title lines: " + " | ".join(" ".join(c for c in cells if c) for _, cells in titles))
    if dropped:
        notes.append(f"dropped aggregate rows: {', '.join(dropped)}")
    if footnotes:
        notes.append("footnotes: " + " | ".join(" ".join(c for c in cells if c) for _, cells in footnotes))
    n_missing = int(np.isnan(long["_num"].to_numpy()).sum())
    if n_missing:
        notes.append(f"{n_missing} empty or placeholder cells read as missing")
    name = variable or (next(iter(columns)) if len(columns) == 1 else path.stem)
    return SourceTable(name=name, data=data, columns=columns, files=file_record(path),
                       release=release or "unspecified", notes=tuple(notes))


def _years(values: pd.Series, rows, path) -> np.ndarray:
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype="int64")
    return to_year(values.astype(object), rows, path, column="year")
