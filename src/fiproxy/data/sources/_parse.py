"""Cell-level parsing shared by the source loaders: encodings, numbers, years, provinces.

Everything here works on whole columns (unique values are parsed once), so loaders stay fast
on large files, and every failure raises :class:`SourceFormatError` naming file, row and cell.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import UnknownProvinceError, is_aggregate_name, resolve_province
from .base import SourceFormatError

__all__ = [
    "PLACEHOLDERS",
    "read_text",
    "read_sheet",
    "sheet_names",
    "clean_cell",
    "parse_year",
    "split_unit",
    "to_float",
    "to_year",
    "to_prov_code",
    "first_duplicate",
]

# Cells meaning "no value": NBS uses … (not available) and — (not applicable); NFKC has already
# turned … into ... and full-width －/— variants into ASCII where they have one.
PLACEHOLDERS = frozenset(
    {"", "-", "--", "—", "——", "–", "―", "...", "......", "..", "·", "/", "na", "n/a", "nan", "null", "none", "#n/a"}
)
_ENCODINGS = ("utf-8-sig", "gb18030")
_YEAR = re.compile(r"^(\d{4})(?:\.0+)?(?:年度?)?$")
_UNIT = re.compile(r"^(.*?)\s*[(\[]([^()\[\]]*)[)\]]\s*$")
# "name/unit" headers (GDP/亿元) are split only for these units, so ratios such as "loans/GDP" stay whole
_SLASH_UNITS = frozenset({"亿元", "万元", "元", "千元", "亿美元", "万美元", "美元", "万人", "人", "万户", "户", "个", "家",
                          "%", "‰", "公里", "千米", "万千米", "吨", "万吨", "平方米", "万平方米", "元/人", "人/万人"})
_THOUSANDS = re.compile(r"(?<=\d)[,\s](?=\d{3}(?:\D|$))")


def clean_cell(value) -> str:
    """A cell as text: NFKC (full-width digits, letters, colons, parentheses → ASCII), trimmed."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def read_text(path, encoding: str | None = None) -> tuple[str, str]:
    """Decode a text file: the given encoding, else UTF-8 (with or without BOM), GB18030 (a
    superset of GBK / GB2312), else the best guess of charset-normalizer."""
    raw = Path(path).read_bytes()
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceFormatError(path, "binary file (NUL bytes), not a text CSV")
    tried = [encoding] if encoding else list(_ENCODINGS)
    for enc in tried:
        try:
            return raw.decode(enc), enc
        except (UnicodeDecodeError, LookupError):
            continue
    if encoding:
        raise SourceFormatError(path, f"cannot decode as {encoding}; omit encoding= to detect it")
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is None:
        raise SourceFormatError(path, f"cannot decode: not {' / '.join(_ENCODINGS)} and no other encoding detected")
    return str(best), best.encoding


def _workbook(path):
    from python_calamine import CalamineWorkbook

    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types
        raise SourceFormatError(path, f"cannot open as a spreadsheet: {exc}") from exc


def sheet_names(path) -> list[str]:
    """Worksheet names of a spreadsheet file."""
    return list(_workbook(path).sheet_names)


def read_sheet(path, sheet=0) -> list[list]:
    """All rows of one worksheet (.xlsx/.xlsm/.xls/.ods) as lists of Python values; list index
    i is spreadsheet row i + 1 (leading empty rows kept)."""
    wb = _workbook(path)
    names = wb.sheet_names
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise SourceFormatError(path, f"sheet index {sheet} out of range; sheets: {names}")
        ws = wb.get_sheet_by_index(sheet)
    else:
        if sheet not in names:
            raise SourceFormatError(path, f"no sheet {sheet!r}; sheets: {names}")
        ws = wb.get_sheet_by_name(sheet)
    return ws.to_python(skip_empty_area=False)


def parse_year(value) -> int | None:
    """2022, 2022.0, "2022", "2022年", "２０２２年", "2022年度" → 2022; anything else → None."""
    m = _YEAR.match(re.sub(r"\s+", "", clean_cell(value)))
    if not m:
        return None
    year = int(m.group(1))
    return year if 1900 <= year <= 2100 else None


def split_unit(label: str) -> tuple[str, str]:
    """"地区生产总值(亿元)" or "GDP/亿元" → (name, unit); no unit → (label, "")."""
    text = clean_cell(label)
    m = _UNIT.match(text)
    if m:
        return m.group(1).strip(), m.group(2).strip()
    name, sep, unit = text.partition("/")
    if sep and name.strip() and unit.strip() in _SLASH_UNITS:
        return name.strip(), unit.strip()
    return text, ""


def _number_or_none(text: str):
    t = clean_cell(text)
    if t.lower() in PLACEHOLDERS:
        return np.nan
    t = _THOUSANDS.sub("", t).replace("\u2212", "-")
    try:
        return float(t)
    except ValueError:
        return None


def to_float(values: pd.Series, rows, path, column: str) -> np.ndarray:
    """Parse a column of numbers; placeholders (—, …, -, empty) become NaN, full-width digits and
    thousands separators are accepted; any other text raises SourceFormatError at its row."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    fast = pd.to_numeric(values, errors="coerce")
    out = fast.to_numpy(dtype="float64", na_value=np.nan, copy=True)
    need = fast.isna().to_numpy() & values.notna().to_numpy()
    if need.any():
        sub = values[need]
        parsed = {u: _number_or_none(u) for u in sub.unique()}
        for u, v in parsed.items():
            if v is None:
                pos = np.flatnonzero(need)[np.flatnonzero((sub == u).to_numpy())[0]]
                raise SourceFormatError(path, f"cell {u!r} is not a number (nor a placeholder such as —, …, -)",
                                        row=int(np.asarray(rows)[pos]), column=column)
        out[need] = sub.map(parsed).to_numpy(dtype="float64", na_value=np.nan)
    return out


def to_year(values: pd.Series, rows, path, column: str) -> np.ndarray:
    """Parse a column of years (2022, "2022年", full-width digits) to int64."""
    parsed = {u: parse_year(u) for u in pd.unique(values)}
    for u, y in parsed.items():
        if y is None:
            pos = np.flatnonzero((values == u).to_numpy() if not pd.isna(u) else values.isna().to_numpy())[0]
            raise SourceFormatError(path, f"cell {u!r} is not a year", row=int(np.asarray(rows)[pos]), column=column)
    return values.map(parsed).to_numpy(dtype="int64")


def to_prov_code(values: pd.Series, rows, path, column: str, *, aggregates: str = "drop", unknown: str = "raise"):
    """Resolve a column of province names or codes.

    Returns ``(codes, keep, dropped)``: int64 codes (0 where dropped), the boolean mask of
    province rows, and the distinct labels dropped (national/regional aggregates such as 全国,
    and with ``unknown="drop"`` units that are not provinces, such as 深圳市). With
    ``aggregates="raise"`` an aggregate row is an error; an unknown name is an error unless
    ``unknown="drop"``.
    """
    rows = np.asarray(rows)
    codes: dict = {}
    dropped: list[str] = []
    for u in pd.unique(values):
        where = values.isna().to_numpy() if pd.isna(u) else (values == u).to_numpy()
        first_row = int(rows[np.flatnonzero(where)[0]])
        if pd.isna(u) or clean_cell(u) == "":
            raise SourceFormatError(path, "empty province cell", row=first_row, column=column)
        if is_aggregate_name(u):
            if aggregates == "raise":
                raise SourceFormatError(path, f"{u!r} is a national/regional aggregate, not a province",
                                        row=first_row, column=column)
            codes[u] = 0
            dropped.append(str(u))
            continue
        try:
            codes[u] = resolve_province(u)
        except UnknownProvinceError as exc:
            if unknown == "drop":
                codes[u] = 0
                dropped.append(str(u))
                continue
            raise SourceFormatError(path, str(exc), row=first_row, column=column) from None
    mapped = values.map(codes).to_numpy(dtype="int64")
    return mapped, mapped != 0, dropped


def first_duplicate(keys: pd.DataFrame, rows) -> tuple[int, int, tuple] | None:
    """Rows (as in the file) of the first repeated key, or None."""
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return None
    rows = np.asarray(rows)
    sub = keys[dup]
    first_key = tuple(sub.iloc[0])
    same = np.flatnonzero((sub == pd.Series(first_key, index=sub.columns)).all(axis=1).to_numpy())
    idx = np.flatnonzero(dup)[same]
    return int(rows[idx[0]]), int(rows[idx[1]]), first_key
