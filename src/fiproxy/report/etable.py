"""Regression tables side by side, in the style of fixest's ``etable`` and Stata's ``esttab``.

One column per model: coefficients with significance stars, standard errors in
parentheses below, then rows for the fixed effects (``Yes``/``No``), the
covariance type, the number of observations, R² and within R². Output as a
pandas DataFrame, HTML, LaTeX (booktabs) or Markdown. Works with any
:class:`fiproxy.estimators.result.Result`; rows a model has no value for are blank.
"""

from __future__ import annotations

import html as _html
import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from fiproxy.estimators.result import Result

__all__ = ["etable"]

_FORMATS = ("frame", "html", "latex", "markdown")


def _star_marks(p: float, stars: Sequence[float]) -> str:
    levels = sorted(stars, reverse=True)  # 0.10, 0.05, 0.01
    return "*" * sum(p < lv for lv in levels) if np.isfinite(p) else ""


def _selected(names: Iterable[str], keep) -> list[str]:
    names = list(dict.fromkeys(names))
    if keep is None:
        return names
    keep = [keep] if isinstance(keep, str) else list(keep)
    out = []
    for pat in keep:  # order follows keep; exact names first, then regular expressions
        hits = [pat] if pat in names else [n for n in names if re.search(pat, n)]
        out.extend(h for h in hits if h not in out)
    return out


def _stat(r: Result, key: str, digits: int) -> str:
    v = r.stats.get(key)
    return "" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _build(results: list[Result], keep, labels: dict, stars, digits: int, model_names) -> pd.DataFrame:
    labels = labels or {}
    cols = list(model_names) if model_names is not None else [f"({j + 1})" for j in range(len(results))]
    if len(cols) != len(results):
        raise ValueError(f"{len(cols)} model names for {len(results)} results")
    coefs = _selected((n for r in results for n in r.params.index), keep)
    rows: list[tuple[str, str]] = []
    body: list[list[str]] = []
    for name in coefs:
        est, se = [], []
        for col, r in zip(cols, results):
            if name in r.params.index:
                if not (np.isfinite(r.params[name]) and np.isfinite(r.se[name])):
                    raise ValueError(f"model {col} ({r.model}): coefficient {name!r} has a non-finite estimate or "
                                     f"standard error ({r.params[name]}, {r.se[name]}); a table with NaN is not "
                                     "printed: fix the model or leave the coefficient out with keep=")
                p = float(r.pvalue[name])
                est.append(f"{r.params[name]:.{digits}f}" + (_star_marks(p, stars) if stars else ""))
                se.append(f"({r.se[name]:.{digits}f})")
            else:
                est.append("")
                se.append("")
        rows += [("coef", labels.get(name, name)), ("se", labels.get(name, name))]
        body += [est, se]
    fes = list(dict.fromkeys(f for r in results for f in (r.spec.get("fe") or [])))
    for f in fes:
        rows.append(("fe", labels.get(f, f)))
        body.append(["Yes" if f in (r.spec.get("fe") or []) else "No" for r in results])
    rows.append(("stat", "Covariance"))
    body.append([r.vcov_type for r in results])
    rows.append(("stat", "Observations"))
    body.append([f"{r.nobs:,}" for r in results])
    if any(r.stats.get("r2") is not None for r in results):
        rows.append(("stat", "R²"))
        body.append([_stat(r, "r2", digits) for r in results])
    if any(r.stats.get("r2_within") is not None for r in results):
        rows.append(("stat", "Within R²"))
        body.append([_stat(r, "r2_within", digits) for r in results])
    index = pd.MultiIndex.from_tuples(rows, names=["part", "row"])
    return pd.DataFrame(body, index=index, columns=cols)


def _note(stars) -> str:
    if not stars:
        return "Standard errors in parentheses."
    levels = sorted(stars, reverse=True)
    marks = ", ".join(f"{'*' * (j + 1)} p<{lv:g}" for j, lv in enumerate(levels))
    return f"Standard errors in parentheses. {marks}"


def _display_rows(tab: pd.DataFrame) -> list[tuple[str, str, list[str]]]:
    """(part, label shown, cells): standard-error rows carry no label."""
    return [(part, "" if part == "se" else label, list(tab.iloc[i]))
            for i, (part, label) in enumerate(tab.index)]


def _latex_escape(s: str) -> str:
    s = s.replace("\\", r"\textbackslash{}")
    for ch in "&%$#_{}":
        s = s.replace(ch, "\\" + ch)
    s = s.replace("~", r"\textasciitilde{}").replace("^", r"\^{}").replace("R²", r"$R^2$")
    return s


def _latex_cell(s: str) -> str:
    m = re.match(r"^(.*?)(\*+)$", s)
    if m:
        return f"{_latex_escape(m.group(1))}$^{{{m.group(2)}}}$"
    return _latex_escape(s)


def _to_latex(tab: pd.DataFrame, note: str) -> str:
    k = tab.shape[1]
    lines = [r"\begin{tabular}{l" + "c" * k + "}", r"\toprule",
             " & ".join([""] + [_latex_escape(c) for c in tab.columns]) + r" \\", r"\midrule"]
    prev = None
    for part, label, cells in _display_rows(tab):
        if prev is not None and part != prev and part in ("fe", "stat") and prev in ("se", "coef", "fe"):
            lines.append(r"\midrule")
        lines.append(" & ".join([_latex_escape(label)] + [_latex_cell(c) for c in cells]) + r" \\")
        prev = part
    lines += [r"\bottomrule",
              rf"\multicolumn{{{k + 1}}}{{l}}{{\footnotesize {_latex_escape(note)}}} \\",
              r"\end{tabular}"]
    return "\n".join(lines)


def _to_html(tab: pd.DataFrame, note: str) -> str:
    e = _html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in tab.columns)
    out = ['<table class="fiproxy-etable">', f"<thead><tr><th></th>{head}</tr></thead>", "<tbody>"]
    prev = None
    for part, label, cells in _display_rows(tab):
        rule = prev in ("coef", "se") and part in ("fe", "stat")
        cls = f' class="{part}"' + (' style="border-top:1px solid"' if rule else "")
        out.append(f"<tr{cls}><td>{e(label)}</td>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
        prev = part
    out += ["</tbody>", f'<tfoot><tr><td colspan="{tab.shape[1] + 1}">{e(note)}</td></tr></tfoot>', "</table>"]
    return "\n".join(out)


def _md_escape(s: str) -> str:
    return s.replace("|", r"\|").replace("*", r"\*")


def _to_markdown(tab: pd.DataFrame, note: str) -> str:
    lines = ["| " + " | ".join([""] + [_md_escape(c) for c in tab.columns]) + " |",
             "|" + "---|" + ":---:|" * tab.shape[1]]
    for _, label, cells in _display_rows(tab):
        lines.append("| " + " | ".join([_md_escape(label)] + [_md_escape(c) for c in cells]) + " |")
    lines.append("")
    lines.append(_md_escape(note))
    return "\n".join(lines)


def etable(
    results: Result | Sequence[Result],
    *,
    keep: str | Sequence[str] | None = None,
    labels: dict | None = None,
    stars: Sequence[float] | None = (0.10, 0.05, 0.01),
    digits: int = 3,
    fmt: str = "frame",
    model_names: Sequence[str] | None = None,
) -> pd.DataFrame | str:
    """Side-by-side regression table.

    Parameters
    ----------
    results : Result or list of Result
    keep : names or regular expressions of the coefficients to show (in that order).
    labels : display names for coefficients and fixed effects.
    stars : significance levels, most lenient first (default 10%, 5%, 1% → ``*``,
        ``**``, ``***``); ``None`` or ``()`` for none.
    digits : decimals of estimates, standard errors and R².
    fmt : ``"frame"`` (DataFrame with a (part, row) index), ``"html"``,
        ``"latex"`` (booktabs) or ``"markdown"``.
    model_names : column headers (default ``(1)``, ``(2)``, …).
    """
    if isinstance(results, Result):
        results = [results]
    results = list(results)
    if not results or not all(isinstance(r, Result) for r in results):
        raise TypeError("etable needs one or more fiproxy Result objects")
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    if stars and not all(0 < s < 1 for s in stars):
        raise ValueError(f"stars must be significance levels in (0, 1), got {stars!r}")
    tab = _build(results, keep, labels or {}, tuple(stars or ()), int(digits), model_names)
    if fmt == "frame":
        return tab
    note = _note(tuple(stars or ()))
    return {"html": _to_html, "latex": _to_latex, "markdown": _to_markdown}[fmt](tab, note)
