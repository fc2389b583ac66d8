"""Checks of a province x year panel: keys, provinces, impossible values, gaps.

:func:`validate_panel` returns a :class:`ValidationReport`; every :class:`Problem` carries a
message that names the variable, the offending province-years and what is wrong. Errors
(duplicate keys, unknown provinces, impossible values, missing key columns) make the panel
unusable as is; gaps are reported per variable and never filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Problem", "ValidationReport", "PanelValidationError", "validate_panel"]

KEYS = ("prov_code", "year")
_SHOW = 6  # cells listed per message


class PanelValidationError(ValueError):
    """Raised by :meth:`ValidationReport.raise_for_errors`."""


@dataclass(frozen=True)
class Problem:
    """One finding: ``kind`` in {missing_key, duplicate_key, unknown_province, bad_year, negative, share_range,
    not_binary, non_finite, gap}; ``severity`` is "error" or "gap"."""

    kind: str
    severity: str
    variable: str | None
    message: str
    cells: tuple[tuple[int, int], ...] = ()


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def gaps(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "gap"]

    @property
    def ok(self) -> bool:
        """No errors (gaps alone do not make a panel invalid)."""
        return not self.errors

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"kind": p.kind, "severity": p.severity, "variable": p.variable, "n_cells": len(p.cells),
                              "message": p.message} for p in self.problems],
                            columns=["kind", "severity", "variable", "n_cells", "message"])

    def raise_for_errors(self) -> None:
        if self.errors:
            raise PanelValidationError("panel failed validation:\n" + "\n".join(f"- {p.message}" for p in self.errors))

    def __str__(self) -> str:
        if not self.problems:
            return "validation: no problems"
        lines = [f"validation: {len(self.errors)} error(s), {len(self.gaps)} variable(s) with gaps"]
        lines += [f"  [{p.severity}] {p.message}" for p in self.problems]
        return "\n".join(lines)


def _cells(frame: pd.DataFrame, mask) -> tuple[tuple[int, int], ...]:
    sub = frame.loc[mask, list(KEYS)]
    return tuple(zip(sub["prov_code"].astype("int64").tolist(), sub["year"].astype("int64").tolist()))


def _show(cells) -> str:
    txt = ", ".join(f"{p}/{y}" for p, y in cells[:_SHOW])
    return txt + (f" … (+{len(cells) - _SHOW} more)" if len(cells) > _SHOW else "")


def _bounds_of(frame: pd.DataFrame, meta, catalog) -> dict[str, str]:
    out: dict[str, str] = {}
    for col in frame.columns:
        if col in KEYS:
            continue
        if meta is not None and col in meta and getattr(meta[col], "bounds", None):
            out[col] = meta[col].bounds
        elif catalog is not None and col in catalog:
            out[col] = catalog[col].bounds
        else:
            out[col] = "none"
    return out


def _gap_message(col: str, frame: pd.DataFrame, miss: np.ndarray, reasons: dict | None) -> str:
    n = int(miss.sum())
    sub = frame.loc[miss, list(KEYS)]
    by_year = sub.groupby("year").size()
    years_all = [int(y) for y, k in by_year.items() if k == frame["prov_code"].nunique()]
    head = f"{col}: {n} of {len(frame)} cells missing"
    if n == len(frame):
        head = f"{col}: entirely missing ({n} cells)"
    elif years_all:
        head += f" (all provinces in {_span(years_all)})"
    rest = sub[~sub["year"].isin(years_all)]
    if len(rest):
        head += f"; province/year: {_show(list(zip(rest['prov_code'].tolist(), rest['year'].tolist())))}"
    if reasons and col in reasons:
        head += f" — {reasons[col]}"
    return head


def _span(years: list[int]) -> str:
    runs, start, prev = [], years[0], years[0]
    for y in years[1:] + [None]:
        if y is not None and y == prev + 1:
            prev = y
            continue
        runs.append(f"{start}" if start == prev else f"{start}-{prev}")
        if y is not None:
            start = prev = y
    return ", ".join(runs)


_ADVICE = {"negative": "; {col} cannot be negative",
           "share_range": "; a share must lie in [0, 1] (percent given instead of a fraction?)"}


def _value_checks(col: str, kind: str, values: np.ndarray):
    """(problem kind, row mask, description of the bad values) for the variable's bounds."""
    with np.errstate(invalid="ignore"):
        checks = [("non_finite", np.isinf(values), lambda v: "infinite value(s)")]
        if kind in ("nonnegative", "share", "binary"):
            checks.append(("negative", values < 0, lambda v: f"negative value(s) (min {np.nanmin(v):.4g})"))
        if kind == "share":
            checks.append(("share_range", values > 1, lambda v: f"value(s) above 1 (max {np.nanmax(v):.4g})"))
        if kind == "binary":
            checks.append(("not_binary", ~np.isnan(values) & (values != 0) & (values != 1), lambda v: "value(s) other than 0/1"))
    return checks


def validate_panel(panel, *, catalog=None, provinces=None) -> ValidationReport:
    """Check a :class:`~fiproxy.data.Panel` or a DataFrame with ``prov_code``, ``year`` and variables.

    Reports duplicate (prov_code, year) keys, province codes outside the registry (or the
    ``provinces`` given), non-integer years, negative values of non-negative variables
    (balances, counts, money), shares outside [0, 1], non-binary indicators, infinite values,
    and the missing cells of every variable. Bounds come from the panel metadata or the
    catalog (default: ``data/catalog.yaml``).
    """
    from fiproxy.data.catalog import load_catalog

    meta = getattr(panel, "meta", None)
    reasons = None
    if hasattr(panel, "data"):
        frame = panel.data
        if getattr(panel, "gaps", None) is not None and len(panel.gaps):
            reasons = panel.gaps.groupby("variable")["reason"].agg(lambda r: "; ".join(pd.unique(r))).to_dict()
    elif isinstance(panel, pd.DataFrame):
        frame = panel
    else:
        raise TypeError(f"validate_panel expects a Panel or a DataFrame, got {type(panel).__name__}")
    if catalog is None:
        catalog = load_catalog()
    report = ValidationReport()
    add = report.problems.append

    absent = [k for k in KEYS if k not in frame.columns]
    if absent:
        import difflib

        hints = {k: difflib.get_close_matches(k, [str(c) for c in frame.columns], n=2, cutoff=0.5) for k in absent}
        msg = "; ".join(f"key column {k!r} missing" + (f" (close: {', '.join(h)})" if h else "") for k, h in hints.items())
        add(Problem("missing_key", "error", None, msg))
        return report

    year = pd.to_numeric(frame["year"], errors="coerce")
    bad_year = year.isna() | (year != np.floor(year))
    if bad_year.any():
        add(Problem("bad_year", "error", "year", f"year: {int(bad_year.sum())} row(s) with a missing or non-integer year",
                    ()))

    dup = frame.duplicated(list(KEYS), keep=False).to_numpy()
    if dup.any():
        cells = tuple(dict.fromkeys(_cells(frame, dup)))
        add(Problem("duplicate_key", "error", None,
                    f"duplicate keys: {len(cells)} (prov_code, year) pair(s) appear more than once: {_show(cells)}", cells))

    if provinces is None:
        from fiproxy.data.registry import provinces as registry

        known = set(registry().index.astype(int))
    else:
        known = {int(p) for p in provinces}
    codes = pd.to_numeric(frame["prov_code"], errors="coerce")
    unknown = (~codes.isin(known)).to_numpy()
    if unknown.any():
        bad = sorted({str(c) for c in frame.loc[unknown, "prov_code"].tolist()})
        add(Problem("unknown_province", "error", "prov_code",
                    f"unknown provinces: prov_code {', '.join(bad)} not among the {len(known)} registry provinces "
                    f"({int(unknown.sum())} rows)", _cells(frame, unknown) if not bad_year.any() else ()))

    bounds = _bounds_of(frame, meta, catalog)
    for col, kind in bounds.items():
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        for kind_, mask, text in _value_checks(col, kind, values):
            if mask.any():
                cells = _cells(frame, mask)
                add(Problem(kind_, "error", col, f"{col}: {len(cells)} {text(values[mask])} at {_show(cells)}"
                            + _ADVICE.get(kind_, "").format(col=col), cells))
        miss = np.isnan(values)
        if miss.any():
            add(Problem("gap", "gap", col, _gap_message(col, frame, miss, reasons), _cells(frame, miss)))
    return report
