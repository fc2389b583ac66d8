"""Common types of the source loaders: one tidy table per source file, keyed by (prov_code, year)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["ColumnMeta", "SourceTable", "SourceFormatError", "sha256_file", "file_record", "KEYS"]

KEYS = ("prov_code", "year")


class SourceFormatError(ValueError):
    """A source file that cannot be read as the format it claims to be.

    The message names the file, the row (1-based line or spreadsheet row, as in the file)
    when the problem is local to a row, and the problem.
    """

    def __init__(self, path, problem: str, row: int | None = None, column: str | None = None):
        self.path = str(path)
        self.row = row
        self.column = column
        self.problem = problem
        where = self.path if row is None else f"{self.path}, row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class ColumnMeta:
    """Catalog facts of one value column."""

    name: str
    unit: str
    source: str
    release: str
    transformation: str = "as published"
    description: str = ""


@dataclass
class SourceTable:
    """Tidy rows read from one source file.

    ``data`` has int64 keys ``prov_code`` and ``year`` (plus ``city_code`` when
    ``level == "city"``), unique per row, and float64 value columns, each described in
    ``columns``. ``files`` maps every input file read to its sha256; ``notes`` records what
    the loader dropped or interpreted (national rows, placeholders …).
    """

    name: str
    data: pd.DataFrame
    columns: dict[str, ColumnMeta]
    files: dict[str, str]
    release: str
    level: str = "province"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.level not in ("province", "city"):
            raise ValueError(f"level must be 'province' or 'city', got {self.level!r}")
        keys = self.key_columns
        missing = [k for k in keys if k not in self.data.columns]
        if missing:
            raise ValueError(f"SourceTable {self.name!r}: key columns {missing} missing")
        for k in keys:
            if self.data[k].dtype != np.int64:
                raise ValueError(f"SourceTable {self.name!r}: key {k!r} must be int64, got {self.data[k].dtype}")
        values = [c for c in self.data.columns if c not in keys]
        for c in values:
            if self.data[c].dtype != np.float64:
                raise ValueError(f"SourceTable {self.name!r}: value column {c!r} must be float64, got {self.data[c].dtype}")
        if set(values) != set(self.columns):
            raise ValueError(f"SourceTable {self.name!r}: metadata for {sorted(self.columns)} but value columns "
                             f"{sorted(values)}")
        unique_keys = ["city_code", "year"] if self.level == "city" else list(KEYS)
        if self.data.duplicated(unique_keys).any():
            raise ValueError(f"SourceTable {self.name!r}: duplicate keys {unique_keys}")

    @property
    def key_columns(self) -> tuple[str, ...]:
        return ("prov_code", "city_code", "year") if self.level == "city" else KEYS

    @property
    def value_columns(self) -> list[str]:
        return [c for c in self.data.columns if c not in self.key_columns]


def sha256_file(path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path) -> dict[str, str]:
    """``{absolute path: sha256}`` for one input file."""
    p = Path(path).resolve()
    return {str(p): sha256_file(p)}
