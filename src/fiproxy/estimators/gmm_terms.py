"""Regressor terms and column checks for dynamic-panel GMM.

A term names a data column at one or several lags, in the fixest syntax the
rest of fiproxy uses: ``"w"`` (current value), ``"l(w, 1)"`` (first lag) and
``"l(w, 0:2)"`` (current value and lags 1 and 2). Lags are calendar lags on the
panel's time grid, so a lag across a gap in the panel is missing, never the
previous available row.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

__all__ = ["LaggedVar", "parse_terms", "check_columns", "expand_globs", "lag_label"]

_NAME = r"[A-Za-z_.][A-Za-z0-9_.]*"
_PLAIN = re.compile(rf"^\s*({_NAME})\s*$")
_LAG = re.compile(rf"^\s*[lL]\(\s*({_NAME})\s*,\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?\)\s*$")


@dataclass(frozen=True)
class LaggedVar:
    """Column ``var`` lagged ``lag`` periods (0 = current value)."""

    var: str
    lag: int

    @property
    def label(self) -> str:
        return lag_label(self.var, self.lag)


def lag_label(var: str, lag: int) -> str:
    """Coefficient name of ``var`` at ``lag``: ``w`` or ``l(w,1)`` (fixest style)."""
    return var if lag == 0 else f"l({var},{lag})"


def parse_terms(terms: Iterable[str] | str | None, role: str) -> list[LaggedVar]:
    """Expand ``["w", "l(k, 0:2)"]`` into lagged variables, in order."""
    if terms is None:
        return []
    if isinstance(terms, str):
        terms = [terms]
    out: list[LaggedVar] = []
    for term in terms:
        if not isinstance(term, str):
            raise TypeError(f"{role}: terms must be strings such as 'w' or 'l(w, 0:1)', got {term!r}")
        m = _PLAIN.match(term)
        if m:
            out.append(LaggedVar(m.group(1), 0))
            continue
        m = _LAG.match(term)
        if not m:
            raise ValueError(
                f"{role}: cannot read term {term!r}; write a column name, 'l(col, k)' or 'l(col, a:b)'"
            )
        a = int(m.group(2))
        b = int(m.group(3)) if m.group(3) is not None else a
        if a < 0 or b < a:
            raise ValueError(f"{role}: lag range in {term!r} must satisfy 0 <= a <= b")
        out.extend(LaggedVar(m.group(1), k) for k in range(a, b + 1))
    seen: set[LaggedVar] = set()
    for t in out:
        if t in seen:
            raise ValueError(f"{role}: {t.label} is listed twice")
        seen.add(t)
    return out


def expand_globs(patterns: Sequence[str] | str | None, columns: Sequence[str], role: str) -> list[str]:
    """Expand shell-style patterns (``"yr*"``) against the data columns."""
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    out: list[str] = []
    for pat in patterns:
        if any(ch in pat for ch in "*?["):
            hits = [c for c in columns if fnmatch.fnmatchcase(c, pat)]
            if not hits:
                raise ValueError(f"{role}: pattern {pat!r} matches no column of the data")
            out.extend(h for h in hits if h not in out)
        elif pat not in out:
            out.append(pat)
    return out


def check_columns(data: pd.DataFrame, names: Iterable[str], role: str) -> None:
    """Raise ``KeyError`` naming the missing column and its closest matches."""
    cols = [str(c) for c in data.columns]
    for name in names:
        if name not in data.columns:
            close = difflib.get_close_matches(name, cols, n=3, cutoff=0.5)
            hint = f"; close matches: {', '.join(repr(c) for c in close)}" if close else ""
            raise KeyError(f"{role}: column {name!r} is not in the data{hint}")
