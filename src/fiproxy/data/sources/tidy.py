"""Generic tidy tables: one row per province and year, one column per variable.

Any CSV (UTF-8 with or without BOM, GBK / GB18030) or spreadsheet with a province column
(codes or names in any spelling the registry knows) and a year column. A ``mapping``
``{source column: our name}`` selects and renames value columns; without it every numeric
column is kept. National / regional aggregate rows (中国, 全国 …) are dropped and recorded in
``SourceTable.notes`` (or rejected with ``aggregates="raise"``).
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from ._parse import first_duplicate, read_sheet, read_text, to_float, to_prov_code, to_year
from .base import ColumnMeta, SourceFormatError, SourceTable, file_record

__all__ = ["load_tidy_csv", "PROVINCE_COLUMNS"]

# Tried in this order when province_col is not given.
PROVINCE_COLUMNS = ("prov_code", "province_code", "province", "prov_name_zh", "prov_name", "province_name", "省份",
                    "地区", "省", "prov_name_en")
_SPREADSHEET = {".xlsx", ".xlsm", ".xls", ".ods"}


def _read_frame(path: Path, encoding: str | None, sheet) -> tuple[pd.DataFrame, str]:
    if path.suffix.lower() in _SPREADSHEET:
        grid = read_sheet(path, sheet)
        if not grid:
            raise SourceFormatError(path, f"sheet {sheet!r} is empty")
        header = [str(c).strip() for c in grid[0]]
        return pd.DataFrame(grid[1:], columns=header).replace("", np.nan), f"sheet {sheet!r}"
    text, enc = read_text(path, encoding)
    try:
        # blank lines are kept (and skipped below) so that row numbers stay file lines
        frame = pd.read_csv(io.StringIO(text), skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        raise SourceFormatError(path, f"not a rectangular CSV table: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame, f"encoding {enc}"


def _column(path: Path, frame: pd.DataFrame, col: str, what: str) -> None:
    if col not in frame.columns:
        lowered = {str(c).lower(): c for c in frame.columns}
        close = [lowered[m] for m in difflib.get_close_matches(col.lower(), list(lowered), n=3, cutoff=0.5)]
        raise SourceFormatError(path, f"no {what} column {col!r}" + (f"; did you mean {close}?" if close else "")
                                + f" (columns: {list(frame.columns)})", row=1)


def load_tidy_csv(path, *, mapping: dict[str, str] | None = None, meta: dict[str, ColumnMeta] | None = None,
                  release: str | None = None, name: str | None = None, province_col: str | None = None,
                  year_col: str = "year", where: dict[str, object] | None = None, aggregates: str = "drop",
                  unknown: str = "raise", encoding: str | None = None, sheet=0) -> SourceTable:
    """Read a tidy province × year table into a :class:`SourceTable`.

    Parameters
    ----------
    mapping : ``{source column: our name}``; only these value columns are kept, in this order.
        Without it, every column with numbers is kept under its own name (text columns such as
        English names are skipped; a column mixing numbers and text is an error).
    meta : catalog facts per our name; columns without an entry get unit "" and this file as source.
    release : vintage label (default "unspecified"); name : table name (default: file stem).
    province_col : column with province codes or names (default: the first of PROVINCE_COLUMNS).
    year_col : column with years (2022, "2022年").
    where : keep only rows whose columns equal these values, e.g. ``{"bank_type_en": "total"}``.
    aggregates : "drop" (default) or "raise" for national/regional rows (中国, 全国, 东部地区 …).
    unknown : "raise" (default) or "drop" rows whose unit is not one of the 31 provinces
        (e.g. a separately planned city such as 深圳市); dropped labels are listed in ``notes``.

    Row numbers in errors are file lines, assuming one header line and no line breaks inside cells.
    """
    if aggregates not in ("drop", "raise") or unknown not in ("raise", "drop"):
        raise ValueError("aggregates must be 'drop' or 'raise'; unknown must be 'raise' or 'drop'")
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(path, "file not found")
    release = release or "unspecified"
    frame, how = _read_frame(path, encoding, sheet)
    rows = np.arange(2, len(frame) + 2)
    if frame.columns.duplicated().any():
        raise SourceFormatError(path, f"repeated column names {sorted(set(frame.columns[frame.columns.duplicated()]))}",
                                row=1)
    notes = [f"read {path.name} ({how})"]
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame, rows = frame.loc[~blank].reset_index(drop=True), rows[~blank]
        notes.append(f"skipped {int(blank.sum())} blank rows")

    if where:
        keep = np.ones(len(frame), dtype=bool)
        for col, value in where.items():
            _column(path, frame, col, "filter")
            keep &= (frame[col] == value).to_numpy()
        frame, rows = frame.loc[keep].reset_index(drop=True), rows[keep]
        notes.append(f"kept {keep.sum()} rows where {where}")
        if frame.empty:
            raise SourceFormatError(path, f"no rows where {where}")

    if province_col is None:
        province_col = next((c for c in PROVINCE_COLUMNS if c in frame.columns), None)
        if province_col is None:
            raise SourceFormatError(path, f"no province column: expected one of {list(PROVINCE_COLUMNS)} or "
                                          f"province_col=; columns: {list(frame.columns)}", row=1)
    _column(path, frame, province_col, "province")
    _column(path, frame, year_col, "year")

    codes, keep, dropped = to_prov_code(frame[province_col], rows, path, province_col, aggregates=aggregates,
                                        unknown=unknown)
    if dropped:
        notes.append(f"dropped {int((~keep).sum())} rows of aggregates or non-provincial units: {', '.join(dropped)}")
    frame, rows, codes = frame.loc[keep].reset_index(drop=True), rows[keep], codes[keep]

    year = frame[year_col]
    years = (year.to_numpy(dtype="int64") if pd.api.types.is_integer_dtype(year.dtype)
             else to_year(year.astype(object), rows, path, year_col))
    data = pd.DataFrame({"prov_code": codes.astype("int64"), "year": years})

    if mapping is not None:
        for src in mapping:
            _column(path, frame, src, "value")
        targets = list(mapping.values())
        if len(set(targets)) != len(targets) or {"prov_code", "year"} & set(targets):
            raise ValueError(f"mapping targets must be distinct and not prov_code/year: {targets}")
        for src, ours in mapping.items():
            data[ours] = to_float(frame[src], rows, path, src)
    else:
        skipped = []
        for src in frame.columns:
            if src in (province_col, year_col, "prov_code") or (where and src in where):
                continue
            values = frame[src]
            if not pd.api.types.is_numeric_dtype(values.dtype) and not pd.to_numeric(values, errors="coerce").notna().any():
                skipped.append(src)  # text column (names, labels)
                continue
            data[src] = to_float(values, rows, path, src)
        if skipped:
            notes.append(f"text columns not read: {skipped}")
    values = [c for c in data.columns if c not in ("prov_code", "year")]
    if not values:
        raise SourceFormatError(path, "no value columns")

    dup = first_duplicate(data[["prov_code", "year"]], rows)
    if dup is not None:
        r1, r2, key = dup
        raise SourceFormatError(path, f"duplicate province–year: prov_code {key[0]}, year {key[1]} also at row {r1}"
                                      " (a long table with another dimension needs where=)", row=r2)

    meta = dict(meta or {})
    unknown_meta = set(meta) - set(values)
    if unknown_meta:
        raise ValueError(f"meta given for columns not read: {sorted(unknown_meta)}")
    columns = {c: meta.get(c) or ColumnMeta(name=c, unit="", source=path.name, release=release,
                                            description=f"column {_source_name(mapping, c)!r} of {path.name}")
               for c in values}
    data = data.sort_values(["prov_code", "year"], ignore_index=True)
    return SourceTable(name=name or path.stem, data=data, columns=columns, files=file_record(path),
                       release=release, notes=tuple(notes))


def _source_name(mapping: dict[str, str] | None, ours: str) -> str:
    if not mapping:
        return ours
    return next(src for src, o in mapping.items() if o == ours)
