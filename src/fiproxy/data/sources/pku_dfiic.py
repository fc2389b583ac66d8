"""Peking University Digital Financial Inclusion Index of China (PKU-DFIIC, 北京大学数字普惠金融指数).

Reference: Guo, F., Wang, J., Wang, F., Kong, T., Zhang, X., Cheng, Z. (2020). Measuring China's
digital financial inclusion: index compilation and spatial characteristics (测度中国数字普惠金融
发展：指数编制与空间特征). China Economic Quarterly 19(4): 1401–1418.

Reads the publisher's workbook (.xlsx/.xls; sheets ``Provinces`` / ``Prefecture_Level_Cities`` or
省级 / 城市 …, English or Chinese headers such as ``index_aggregate`` / 总指数), the Stata files
derived from it (.dta) and tidy CSV with the same columns. The index is re-estimated at every
release (values for the same year change by up to 22 points), so the release label travels with
the data and releases must not be mixed.
"""

from __future__ import annotations

import difflib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import provinces
from ._parse import clean_cell, first_duplicate, read_sheet, read_text, sheet_names, to_float, to_prov_code, to_year
from .base import ColumnMeta, SourceFormatError, SourceTable, file_record

__all__ = ["load_pku_dfiic", "INDEX_COLUMNS", "DEFAULT_RELEASE"]

DEFAULT_RELEASE = "2011-2023 (2024 release)"
SOURCE = ("Institute of Digital Finance, Peking University & Ant Group Research Institute: "
          "PKU-DFIIC (Guo et al. 2020, China Economic Quarterly 19(4))")

# our name -> (description, spellings seen in the workbook / Stata files / papers)
INDEX_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "index_aggregate": ("aggregate digital financial inclusion index",
                        ("总指数", "数字普惠金融总指数", "数字普惠金融指数", "aggregate", "aggregate_index", "index")),
    "coverage_breadth": ("coverage-breadth sub-index", ("覆盖广度", "覆盖广度指数", "coverage")),
    "usage_depth": ("usage-depth sub-index", ("使用深度", "使用深度指数", "usage")),
    "payment": ("usage depth: payment sub-index", ("支付", "支付业务", "支付业务指数", "支付指数")),
    "insurance": ("usage depth: insurance sub-index", ("保险", "保险业务", "保险业务指数", "保险指数")),
    "monetary_fund": ("usage depth: money-market fund sub-index (not published 2011-2012, 2019+)",
                      ("货币基金", "货币基金业务", "货币基金指数", "货币基金业务指数", "moneyfund")),
    "investment": ("usage depth: investment sub-index (from 2014)", ("投资", "投资业务", "投资业务指数", "投资指数")),
    "credit": ("usage depth: credit sub-index", ("信贷", "信贷业务", "信贷业务指数", "信贷指数")),
    "credit_investigation": ("usage depth: credit-investigation sub-index (2015-2018 only)",
                             ("信用", "征信", "信用业务", "信用业务指数", "征信业务", "征信指数", "creditinvestigation")),
    "digitization_level": ("digitization-level sub-index",
                           ("数字化程度", "数字化程度指数", "数字支持服务程度", "digitization", "digitalization_level")),
}
_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "year": ("year", "年份", "年", "时间"),
    "prov_code": ("prov_code", "province_code", "provcode", "省份代码", "省级行政区划代码", "省代码", "行政区划代码"),
    "prov_name": ("prov_name", "prov_name_zh", "province", "province_name", "省份", "省份名称", "省", "省级行政区"),
    "prov_name_en": ("prov_name_eng", "prov_name_en", "province_en", "省份名称英文"),
    "city_code": ("city_code", "city_code_2018", "pref_code_year18", "pref_code", "城市代码", "地级市代码",
                  "城市行政区划代码", "城市代码2018"),
    "city_name": ("city_name", "city_name_zh_2018", "pref_name_year18", "city", "城市", "城市名称", "地级市"),
    "city_name_en": ("city_name_en_2018", "pref_name_year18_eng", "city_name_en"),
    "city_code_2014": ("city_code_2014", "pref_code_year14"),
    "city_name_2014": ("city_name_zh_2014", "pref_name_year14"),
}
_SHEETS = {
    "province": ("provinces", "province", "省级", "省份", "省", "省级指数", "省级数字普惠金融指数"),
    "city": ("prefecture_level_cities", "cities", "city", "城市", "地级市", "市级", "城市指数", "地市"),
}


def _norm(label) -> str:
    return re.sub(r"[\s_\-/]+", "", clean_cell(label)).lower()


_SPELLING = {_norm(s): ours for ours, (_, spellings) in INDEX_COLUMNS.items() for s in (ours, *spellings)}
_SPELLING.update({_norm(s): ours for ours, spellings in _ID_COLUMNS.items() for s in (ours, *spellings)})


def _read(path: Path, level: str, sheet) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Raw frame, file row number of each data row, header row number."""
    suffix = path.suffix.lower()
    if suffix == ".dta":
        try:
            frame = pd.read_stata(path, convert_categoricals=False)
        except Exception as exc:
            raise SourceFormatError(path, f"cannot read as a Stata file: {exc}") from exc
        return frame, np.arange(1, len(frame) + 1), 0  # Stata rows are observations, numbered from 1
    if suffix in {".xlsx", ".xlsm", ".xls", ".ods"}:
        if sheet is None:
            sheet = _pick_sheet(path, level)
        grid = [[clean_cell(c) for c in r] for r in read_sheet(path, sheet)]
        # header: the first row with 3+ cells (a title row above it is a single merged cell);
        # the workbook may label columns twice (English row + Chinese row): use the row with more
        # recognised labels and skip the other
        hi = next((i for i, r in enumerate(grid) if sum(c != "" for c in r) >= 3), None)
        if hi is None:
            raise SourceFormatError(path, f"sheet {sheet!r} has no header row")
        start = hi + 1
        while start < len(grid) and _n_labels(grid[start]) > len([c for c in grid[start] if c]) / 2:
            start += 1
        hi = max(range(hi, start), key=lambda i: _n_labels(grid[i]))
        body = grid[start:]
        rows = np.arange(start + 1, start + 1 + len(body))
        frame = pd.DataFrame(body, columns=grid[hi], dtype=object).replace("", np.nan)
        keep = frame.notna().any(axis=1).to_numpy()
        return frame.loc[keep].reset_index(drop=True), rows[keep], hi + 1
    text, _ = read_text(path)
    frame = pd.read_csv(io.StringIO(text), dtype=None, keep_default_na=True)
    return frame, np.arange(2, len(frame) + 2), 1


def _n_labels(cells: list[str]) -> int:
    return sum(_norm(c) in _SPELLING for c in cells if c)


def _pick_sheet(path: Path, level: str):
    names = sheet_names(path)
    wanted = {_norm(s) for s in _SHEETS[level]}
    for name in names:
        if _norm(name) in wanted:
            return name
    raise SourceFormatError(path, f"no {level} sheet: expected one of {list(_SHEETS[level])}, found {names}; "
                                  "pass sheet=")


def load_pku_dfiic(path, level: str = "province", release: str = DEFAULT_RELEASE, *, sheet=None) -> SourceTable:
    """Read PKU-DFIIC province or prefecture-city indices into a tidy :class:`SourceTable`.

    Keys: ``prov_code``, ``year`` (and ``city_code``, the 4-digit 2018 prefecture code, for
    ``level="city"``); value columns are the aggregate index and the sub-indices present in
    the file (``index_aggregate``, ``coverage_breadth``, ``usage_depth``, ``payment``,
    ``insurance``, ``monetary_fund``, ``investment``, ``credit``, ``credit_investigation``,
    ``digitization_level``), in index points.
    """
    if level not in ("province", "city"):
        raise ValueError(f"level must be 'province' or 'city', got {level!r}")
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(path, "file not found")
    frame, rows, header_row = _read(path, level, sheet)
    if frame.empty:
        raise SourceFormatError(path, "no data rows")

    mapped: dict[str, str] = {}
    for col in frame.columns:
        ours = _SPELLING.get(_norm(col))
        if ours is None:
            continue
        if ours in mapped.values():
            raise SourceFormatError(path, f"two columns mean {ours!r}: {[c for c, o in mapped.items() if o == ours] + [col]}",
                                    row=header_row or None)
        mapped[col] = ours
    headers = [str(c) for c in frame.columns]
    frame = frame[list(mapped)].rename(columns=mapped)
    for required in ("year", "index_aggregate"):
        if required not in frame:
            raise _missing(path, required, headers, header_row)

    notes = [f"read {path.name} ({level} level)"]
    if level == "province":
        if "prov_code" in frame:
            codes, keep, dropped = to_prov_code(frame["prov_code"], rows, path, "prov_code", aggregates="raise")
            if "prov_name" in frame:
                _check_names(frame["prov_name"], codes, rows, path)
        elif "prov_name" in frame:
            codes, keep, dropped = to_prov_code(frame["prov_name"], rows, path, "prov_name")
            if dropped:
                notes.append(f"dropped aggregate rows: {', '.join(dropped)}")
        else:
            raise _missing(path, "prov_code", headers, header_row)
        keys = {"prov_code": codes}
    else:
        if "city_code" not in frame:
            raise _missing(path, "city_code", headers, header_row)
        city = to_float(frame["city_code"], rows, path, "city_code")
        bad = ~np.isfinite(city) | (city != np.round(city))
        if bad.any():
            raise SourceFormatError(path, f"city code {frame['city_code'].iloc[np.flatnonzero(bad)[0]]!r} is not an integer",
                                    row=int(rows[np.flatnonzero(bad)[0]]), column="city_code")
        city = city.astype("int64")
        city = np.where(city >= 100_000, city // 100, city)  # 6-digit adcode → 4-digit prefecture code
        prov = city // 100
        keep = np.ones(len(frame), dtype=bool)
        known = np.isin(prov, provinces().index.to_numpy())
        if not known.all():
            i = int(np.flatnonzero(~known)[0])
            raise SourceFormatError(path, f"city code {city[i]}: prefix {prov[i]} is not a province code",
                                    row=int(rows[i]), column="city_code")
        keys = {"prov_code": prov, "city_code": city}

    years = to_year(frame["year"].astype(object), rows, path, "year")
    data = pd.DataFrame({**keys, "year": years})
    present = [c for c in INDEX_COLUMNS if c in frame]
    for c in present:
        data[c] = to_float(frame[c], rows, path, c)
    data = data.loc[keep].reset_index(drop=True)
    rows = rows[keep]
    key_cols = ["city_code", "year"] if level == "city" else ["prov_code", "year"]
    dup = first_duplicate(data[key_cols], rows)
    if dup is not None:
        r1, r2, key = dup
        raise SourceFormatError(path, f"duplicate {key_cols[0]} {key[0]} in year {key[1]} (also at row {r1})", row=r2)
    order = ["prov_code", "city_code", "year"] if level == "city" else ["prov_code", "year"]
    data = data.sort_values(order, ignore_index=True)
    for k in order:
        data[k] = data[k].astype("int64")
    columns = {c: ColumnMeta(name=c, unit="index points", source=SOURCE, release=release,
                             description=INDEX_COLUMNS[c][0]) for c in present}
    return SourceTable(name="pku_dfiic" if level == "province" else "pku_dfiic_city", data=data, columns=columns,
                       files=file_record(path), release=release, level=level, notes=tuple(notes))


def _missing(path: Path, ours: str, headers: list[str], header_row: int) -> SourceFormatError:
    """Error for a required column that is absent, with the file's closest headers."""
    spellings = {ours} | {s for s, o in _SPELLING.items() if o == ours}
    close = sorted({h for h in headers for s in spellings
                    if difflib.SequenceMatcher(None, _norm(h), s).ratio() >= 0.6})
    accepted = [ours, *(INDEX_COLUMNS[ours][1] if ours in INDEX_COLUMNS else _ID_COLUMNS[ours])]
    return SourceFormatError(path, f"no {ours!r} column (accepted headers: {accepted}); file headers: {headers}"
                                   + (f"; closest: {close}" if close else ""), row=header_row or None)


def _check_names(names: pd.Series, codes: np.ndarray, rows: np.ndarray, path: Path) -> None:
    """Province names and codes in the same row must agree (catches shifted or mislabelled rows)."""
    name_codes, _, _ = to_prov_code(names, rows, path, "prov_name", aggregates="raise")
    bad = np.flatnonzero(name_codes != codes)
    if bad.size:
        i = int(bad[0])
        raise SourceFormatError(path, f"province name {names.iloc[i]!r} does not match code {codes[i]}",
                                row=int(rows[i]))
