"""Event-study plot: effects by event time with pointwise intervals and uniform bands.

Takes one or several event-study results of :func:`fiproxy.did` (Callaway–Sant'Anna
event aggregation, Sun–Abraham, TWFE event study) and draws, for each, the
estimates by event time e with 95% pointwise confidence intervals (error bars)
and, when the result has one, the sup-t uniform band (shaded). The reference
period of the regression event studies (e = −1) is drawn as a hollow point at 0.
Uses matplotlib's non-interactive Agg back end and seaborn's style.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["event_plot", "event_table"]

_E = re.compile(r"^e=(-?\d+(?:\.\d+)?)$")


def event_table(res, level: float = 0.95) -> pd.DataFrame:
    """Event-time table of a result: columns e, estimate, ci_lower, ci_upper, band_lower, band_upper.

    ``band_*`` are the uniform band when the result has one (Callaway–Sant'Anna
    with bootstrap), else equal to the pointwise interval.
    """
    if res.model == "did-cs" and res.spec.get("aggregate") != "event":
        tab = res.extra["aggregations"]["event"]
        out = pd.DataFrame({"e": tab.index.to_numpy(dtype=float), "estimate": tab["estimate"].to_numpy(),
                            "ci_lower": tab["ci_lower"].to_numpy(), "ci_upper": tab["ci_upper"].to_numpy(),
                            "band_lower": tab["band_lower"].to_numpy(), "band_upper": tab["band_upper"].to_numpy()})
        return out
    keep = [n for n in res.params.index if _E.match(str(n))]
    if not keep:
        raise ValueError(f"result of {res.model!r} has no event-time parameters (named 'e=k')")
    ci = res.conf_int(level).loc[keep]
    out = pd.DataFrame({"e": [float(_E.match(n).group(1)) for n in keep], "estimate": res.params[keep].to_numpy(),
                        "ci_lower": ci["lower"].to_numpy(), "ci_upper": ci["upper"].to_numpy()})
    tab = res.extra.get("table")
    if res.model == "did-cs" and tab is not None and "band_lower" in tab:
        out["band_lower"], out["band_upper"] = tab["band_lower"].to_numpy(), tab["band_upper"].to_numpy()
    else:
        out["band_lower"], out["band_upper"] = out["ci_lower"], out["ci_upper"]
    return out


def _label(res) -> str:
    return {"did-cs": "Callaway–Sant'Anna", "did-sunab": "Sun–Abraham", "did-twfe-es": "TWFE event study"}.get(
        res.model, res.model)


def event_plot(results, labels=None, *, title: str | None = None, ylabel: str = "Effect", path=None,
               ax=None, dodge: float = 0.12):
    """Draw an event-study plot; returns the matplotlib Figure.

    ``results``: one result or a list (overlaid, shifted horizontally by ``dodge``).
    ``path``: optional file to save (format from the suffix), written atomically.
    """
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    labels = list(labels) if labels is not None else [_label(r) for r in results]
    if len(labels) != len(results):
        raise ValueError("give one label per result")
    sns.set_theme(style="whitegrid")
    fig, ax = (plt.subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax))
    colors = sns.color_palette("deep", len(results))
    shift0 = -dodge * (len(results) - 1) / 2
    for k, (res, lab, col) in enumerate(zip(results, labels, colors)):
        t = event_table(res).sort_values("e")
        x = t["e"].to_numpy() + shift0 + k * dodge
        band = not np.allclose(t["band_lower"], t["ci_lower"], equal_nan=True)
        if band:
            ax.fill_between(x, t["band_lower"], t["band_upper"], color=col, alpha=0.15, step="mid", linewidth=0)
        ax.errorbar(x, t["estimate"], yerr=[t["estimate"] - t["ci_lower"], t["ci_upper"] - t["estimate"]],
                    fmt="o", color=col, capsize=3, label=lab + (" (shaded: uniform band)" if band else ""))
        ref = res.extra.get("reference")
        if ref is not None:
            ax.plot([ref + shift0 + k * dodge], [0.0], marker="o", mfc="white", color=col, linestyle="none")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(-0.5, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("Periods relative to first treatment (e)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    if path is not None:
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
        os.close(fd)
        try:
            fig.savefig(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return fig
