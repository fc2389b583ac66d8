"""Plain-text summary of a :class:`~fiproxy.data.Panel` (what ``fiproxy data`` prints).

The first line says SIMULATED for a simulated panel; the table gives per variable its
concept, unit, non-missing count, mean, standard deviation, range and source/release.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["panel_summary", "SIMULATED_BANNER"]

SIMULATED_BANNER = "SIMULATED DATA — not real statistics; true effects are known (see Panel.truth)"


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "."
    a = abs(x)
    if a != 0 and (a >= 1e5 or a < 1e-3):
        return f"{x:.3e}"
    return f"{x:,.3f}" if a < 1000 else f"{x:,.1f}"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def panel_summary(panel, max_rows: int | None = None) -> str:
    from fiproxy.data.validate import validate_panel

    first, last = panel.years
    head = (f"SIMULATED panel: {panel.label}" if panel.simulated else f"Panel: {panel.label}")
    lines = [head]
    if panel.simulated:
        lines.append(SIMULATED_BANNER)
    lines.append(f"{panel.n_provinces} provinces x {first}-{last} ({len(panel.data)} rows), "
                 f"{len(panel.variables)} variables, {len(panel.files)} input file(s)")
    rows = []
    for v in panel.variables[:max_rows]:
        x = pd.to_numeric(panel.data[v], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        ok = ~np.isnan(x)
        m = panel.meta[v]
        rows.append((v, m.concept or "-", _short(m.unit, 18), int(ok.sum()),
                     _fmt(x[ok].mean()) if ok.any() else ".", _fmt(x[ok].std(ddof=1)) if ok.sum() > 1 else ".",
                     _fmt(x[ok].min()) if ok.any() else ".", _fmt(x[ok].max()) if ok.any() else ".",
                     _short(m.transformation if m.transformation != "as published" else m.source.split(":")[0], 34)))
    header = ("variable", "concept", "unit", "N", "mean", "sd", "min", "max", "source / transformation")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    fmt = "  ".join(f"{{:{'>' if i in (3, 4, 5, 6, 7) else '<'}{w}}}" for i, w in enumerate(widths))
    lines.append(fmt.format(*header))
    lines += [fmt.format(*r) for r in rows]
    if max_rows is not None and len(panel.variables) > max_rows:
        lines.append(f"… {len(panel.variables) - max_rows} more variables")
    gaps = panel.gap_summary()
    if len(gaps):
        lines.append(f"gaps (never imputed): {int(gaps['missing'].sum())} missing cells in {len(gaps)} variables")
        for v, r in gaps.iterrows():
            lines.append(f"  {v}: {int(r['missing'])}/{int(r['cells'])} — {_short(r['reasons'], 140)}")
    report = validate_panel(panel)
    lines.append(f"validation: {'ok' if report.ok else f'{len(report.errors)} error(s)'}")
    lines += [f"  [error] {p.message}" for p in report.errors]
    if panel.simulated and panel.truth:
        lines.append("true effects (SIMULATED):")
        for key, t in panel.truth.get("effects", {}).items():
            lines.append(f"  {key}: {t.get('statement', '')}")
    if panel.notes:
        lines.append("notes:")
        lines += [f"  {n}" for n in panel.notes]
    if panel.simulated:
        lines.append(SIMULATED_BANNER)
    return "\n".join(lines)
