"""Likelihood-ratio profile plot of a panel threshold model (Hansen 1999, Figures 1-3).

For each estimated threshold of a :func:`fiproxy.threshold` result, draws
LR(g) = (S(g) - S(g_hat)) / sigma-hat^2 over the candidate grid with the
critical value c(alpha) = -2 ln(1 - sqrt(level)) as a dashed line: the
confidence set is the part of the curve below that line. Uses matplotlib's
non-interactive Agg back end and seaborn's style.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["lr_profile_plot"]

_TITLES = {
    "Th-1": "single-threshold model",
    "Th-21": "double-threshold model, first threshold (refined)",
    "Th-22": "double-threshold model, second threshold",
    "Th-3": "triple-threshold model, third threshold",
}


def lr_profile_plot(result, path: str | os.PathLike | None = None, which: list[str] | None = None):
    """LR profile of each threshold of ``result`` (one panel per threshold); returns the Figure.

    ``which`` selects profiles by label (``"Th-1"``, ``"Th-21"``, ``"Th-22"``, ``"Th-3"``);
    ``path`` saves the figure (format from the suffix), written atomically.
    """
    if getattr(result, "model", None) != "threshold" or "lr_profiles" not in result.extra:
        raise ValueError("lr_profile_plot needs a result of fiproxy.threshold")
    profiles = result.extra["lr_profiles"]
    labels = list(profiles) if which is None else list(which)
    unknown = [w for w in labels if w not in profiles]
    if unknown:
        raise ValueError(f"unknown profile(s) {unknown}; available: {list(profiles)}")
    crit = result.stats["lr_crit"]
    level = result.spec.get("level", 0.95)
    table = result.extra["thresholds"]
    q = result.spec.get("q", "q")
    with sns.axes_style("whitegrid"):
        fig, axes = plt.subplots(len(labels), 1, figsize=(6.4, 2.6 * len(labels)), squeeze=False)
        for ax, label in zip(axes[:, 0], labels):
            prof = profiles[label]
            ok = np.isfinite(prof["lr"].to_numpy())
            ax.plot(prof["gamma"].to_numpy()[ok], prof["lr"].to_numpy()[ok], color="C0", lw=1)
            ax.axhline(crit, color="C3", ls="--", lw=1, label=f"c = {crit:.2f} ({level:.0%} set)")
            est = table.loc[label, "threshold"]
            ax.axvline(est, color="grey", lw=0.8)
            ax.axvspan(table.loc[label, "lower"], table.loc[label, "upper"], color="C3", alpha=0.08)
            ax.set_title(f"{_TITLES.get(label, label)}: {q} = {est:.4g}", fontsize=9)
            ax.set_xlabel(f"threshold on {q}")
            ax.set_ylabel("LR statistic")
            ax.set_ylim(bottom=0)
            ax.legend(frameon=True, framealpha=0.9, fontsize=8, loc="best")
        fig.tight_layout()
    if path is not None:
        _save_atomic(fig, Path(path))
    return fig


def _save_atomic(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=150)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
