"""The specification-curve figure (Simonsohn, Simmons & Nelson 2020, Figure 2).

Top panel: the estimates of all specifications sorted from smallest to
largest, with their confidence intervals; significant estimates (p < 1 - level)
are drawn in colour (positive / negative), the others in grey, with the median
as a dashed line. Bottom panel (the indicator or "dashboard" panel): for each
choice dimension (outcome, treatment, controls, fixed effects, sample,
covariance) one row per option, with a mark under every specification that
uses it. Uses matplotlib's non-interactive Agg back end and seaborn's style.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from fiproxy.pipeline.atomic import write_bytes  # noqa: E402

__all__ = ["plot_spec_curve", "DIMENSIONS"]

DIMENSIONS = ("outcome", "treatment", "controls", "fe", "sample", "vcov")
_DIM_LABELS = {"outcome": "outcome", "treatment": "treatment", "controls": "controls", "fe": "fixed effects",
               "sample": "sample", "vcov": "covariance"}


def plot_spec_curve(result, path: str | os.PathLike | None = None, *, dimensions=None, title: str | None = None,
                    ylabel: str = "estimate", max_ci: int = 2000):
    """Draw the curve of a :class:`~fiproxy.estimators.spec_curve.SpecCurveResult`; returns the Figure.

    ``dimensions`` lists the indicator rows (default: every dimension with more
    than one option); ``path`` saves the figure (format from the suffix),
    written atomically; intervals are drawn for at most ``max_ci`` specifications.
    """
    curve = result.curve()
    if curve.empty:
        raise ValueError("no specification was estimated; nothing to plot")
    dims = [d for d in (dimensions or DIMENSIONS) if dimensions or curve[d].nunique() > 1] or ["treatment"]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}")
    options = [(d, o) for d in dims for o in sorted(curve[d].unique(), key=str)]
    x = curve["rank"].to_numpy()
    sig = (curve["p"] < result.alpha).to_numpy()
    est = curve["estimate"].to_numpy()
    colour = np.where(~sig, "0.6", np.where(est > 0, "C0", "C3"))
    with sns.axes_style("whitegrid"):
        fig, (ax, axd) = plt.subplots(
            2, 1, sharex=True, figsize=(7.5, 2.8 + 0.18 * len(options)),
            gridspec_kw={"height_ratios": [2.6, max(1.0, 0.18 * len(options))]})
        if len(curve) <= max_ci:
            ax.vlines(x, curve["ci_low"], curve["ci_high"], colors=colour, alpha=0.35, lw=0.8)
        ax.scatter(x, est, c=colour, s=6 if len(curve) > 300 else 12, zorder=3)
        ax.axhline(0, color="black", lw=0.8)
        ax.axhline(result.median_estimate, color="C2", ls="--", lw=1,
                   label=f"median {result.median_estimate:.3g}")
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", fontsize=8, frameon=True, framealpha=0.9)
        ax.set_title(title or (f"{len(curve)} specifications; significant at {result.alpha:g}: "
                               f"{result.share_positive:.0%} positive, {result.share_negative:.0%} negative"),
                     fontsize=9)
        for row, (d, o) in enumerate(options):
            on = (curve[d] == o).to_numpy()
            axd.scatter(x[on], np.full(on.sum(), row), c=colour[on], marker="|", s=30, lw=1)
        axd.set_yticks(range(len(options)))
        axd.set_yticklabels([f"{_DIM_LABELS[d]}: {o}" for d, o in options], fontsize=7)
        axd.set_ylim(len(options) - 0.5, -0.5)
        axd.set_xlabel("specification (sorted by estimate)")
        axd.grid(axis="x", visible=False)
        fig.tight_layout()
    if path is not None:
        path = Path(path)
        buf = io.BytesIO()
        fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=150)
        write_bytes(path, buf.getvalue())
    return fig
