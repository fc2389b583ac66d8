"""Seaborn figures of the paper: data coverage, trends, a province map, coefficient plots.

Every function returns a matplotlib Figure (Agg backend, no display needed);
:meth:`fiproxy.pipeline.record.Outputs.figure` saves it into the run.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["coverage_heatmap", "trend_lines", "province_map", "coef_plot"]

sns.set_theme(style="whitegrid", context="paper")


def coverage_heatmap(data: pd.DataFrame, variables: Sequence[str]):
    """Share of provinces with a value, by variable and year."""
    cov = data.groupby("year")[list(variables)].agg(lambda s: s.notna().mean()).T
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(variables) + 1.2))
    sns.heatmap(cov, vmin=0, vmax=1, cmap="Blues", cbar_kws={"label": "share of provinces observed"},
                linewidths=0.3, linecolor="white", ax=ax)
    ax.set_xlabel("year")
    ax.set_ylabel("")
    return fig


def trend_lines(data: pd.DataFrame, variables: Sequence[str], labels: dict[str, str], group: pd.Series):
    """Mean of each variable by year and group (e.g. NBS region), one panel per variable."""
    n = len(variables)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    d = data.assign(group=group.values)
    for ax, v in zip(axes.flat, variables):
        sns.lineplot(data=d, x="year", y=v, hue="group", errorbar=None, ax=ax, marker="o", markersize=3)
        ax.set_title(labels.get(v, v), fontsize=9)
        ax.set_ylabel("")
        if ax.legend_:
            ax.legend_.remove()
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def province_map(values: pd.Series, lon: pd.Series, lat: pd.Series, names: pd.Series, title: str):
    """Provinces as points at their capitals' coordinates, coloured and sized by a value."""
    fig, ax = plt.subplots(figsize=(7, 5))
    v = values.astype(float)
    size = 40 + 260 * (v - v.min()) / max(v.max() - v.min(), 1e-12)
    sc = ax.scatter(lon, lat, c=v, s=size, cmap="viridis", edgecolor="k", linewidth=0.4)
    for x, y, t in zip(lon, lat, names):
        ax.annotate(t, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    fig.colorbar(sc, ax=ax, label=title)
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_aspect(1.15)
    return fig


def coef_plot(table: pd.DataFrame, truth: dict[str, float] | None = None, xlabel: str = "estimate"):
    """Point estimates with confidence intervals; ``table`` has estimate, ci_lower, ci_upper by label."""
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(table) + 1.2))
    y = np.arange(len(table))[::-1]
    ax.errorbar(table["estimate"], y, xerr=[table["estimate"] - table["ci_lower"], table["ci_upper"] - table["estimate"]],
                fmt="o", color="C0", capsize=3, label="estimate, 95% CI")
    if truth:
        tv = [truth.get(i, np.nan) for i in table.index]
        ax.scatter(tv, y, marker="x", color="C3", zorder=3, label="true effect")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(table.index)
    ax.set_xlabel(xlabel)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def mediation_diagram(x: str, m: str, y: str, a: str, b: str, direct: str, indirect: str):
    """X → M → Y path diagram with the estimated paths written on the arrows (labels are preformatted)."""
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 4.6)
    ax.axis("off")
    boxes = {"x": (1.3, 0.9, x), "m": (5.0, 3.5, m), "y": (8.7, 0.9, y)}
    for bx, by, label in boxes.values():
        ax.text(bx, by, label, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.45", fc="#eef3fb", ec="#34558b"))

    def arrow(p, q, text, dx=0.0, dy=0.0):
        ax.annotate("", xy=q, xytext=p, arrowprops=dict(arrowstyle="-|>", color="#34558b", lw=1.4,
                                                          shrinkA=24, shrinkB=24))
        ax.text((p[0] + q[0]) / 2 + dx, (p[1] + q[1]) / 2 + dy, text, ha="center", va="center", fontsize=8.5)

    arrow(boxes["x"][:2], boxes["m"][:2], f"a = {a}", dx=-0.9, dy=0.2)
    arrow(boxes["m"][:2], boxes["y"][:2], f"b = {b}", dx=0.9, dy=0.2)
    arrow(boxes["x"][:2], boxes["y"][:2], f"direct c′ = {direct}", dy=-0.35)
    ax.text(5.0, 2.0, f"indirect a·b = {indirect}", ha="center", fontsize=9, style="italic")
    return fig
