"""What a notebook hands to the paper: numbers with keys, tables and figures.

Notebooks create one :class:`Outputs` for their ``output_dir`` and register
every number, table and figure that the paper shows. Each number gets a key
(e.g. ``h1.twfe.digitization_level.estimate``) and the execution count of the
cell that produced it, so ``fiproxy trace KEY`` can name the notebook cell, the
specification, the data hashes and the run. Everything is written atomically
into ``output_dir`` by :meth:`Outputs.save`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from fiproxy.pipeline.atomic import write_json, write_text

__all__ = ["Outputs", "KEY_PATTERN", "format_number"]

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_\-\[\]<>=:+*()^]+)*$")


def format_number(value: float, fmt: str) -> str:
    """A registered number as the paper shows it; ``fmt="p"`` prints p-values (``< 0.001`` when tiny)."""
    if fmt == "p":
        return "< 0.001" if value < 0.0005 else f"{value:.3f}"
    return fmt.format(value)


def _cell() -> int | None:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        # While a cell runs, IPython's counter already points at the next cell:
        # the running cell's execution count (as saved in the notebook) is one less.
        return None if ip is None else int(ip.execution_count) - 1
    except Exception:  # pragma: no cover - outside IPython
        return None


def _finite(v: float, key: str) -> float:
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"number {key!r} is {v}: a paper never shows NaN or inf; fix the estimate or drop it")
    return v


class Outputs:
    """Collector of a notebook's paper-facing results.

    Parameters
    ----------
    output_dir : str or Path
        The ``output_dir`` parameter the runner passed to the notebook.
    notebook : str
        Short notebook name (used in keys' provenance).
    section : str
        Title of the paper section these outputs belong to.
    spec : dict, optional
        The analysis specification (from ``analyses/*.yaml``) the notebook ran.
    panel : fiproxy.data.Panel, optional
        The panel used; its label, simulated flag and input file hashes are recorded.
    """

    def __init__(self, output_dir: str | Path, notebook: str, section: str, *, order: int = 50,
                 spec: dict | None = None, panel: Any = None):
        self.dir = Path(output_dir)
        (self.dir / "tables").mkdir(parents=True, exist_ok=True)
        (self.dir / "figures").mkdir(parents=True, exist_ok=True)
        self.notebook, self.section, self.order, self.spec = notebook, section, order, spec or {}
        self.numbers: dict[str, dict] = {}
        self.items: list[dict] = []  # paper content in order: text, table, figure
        self.data = {}
        if panel is not None:
            self.data = {
                "label": getattr(panel, "label", ""),
                "simulated": bool(getattr(panel, "simulated", False)),
                "files": dict(getattr(panel, "files", {}) or {}),
            }

    # ------------------------------------------------------------------ numbers
    def number(self, key: str, value: float, *, label: str = "", truth: float | None = None,
               fmt: str = "{:.3f}") -> str:
        """Register a number; returns it formatted (for use in text). ``fmt`` is a format string or
        ``"p"`` for p-values."""
        if not KEY_PATTERN.match(key):
            raise ValueError(f"invalid number key {key!r}: use letters, digits, '_' and '.'-separated parts")
        if key in self.numbers:
            raise ValueError(f"number key {key!r} registered twice in {self.notebook}")
        v = _finite(value, key)
        self.numbers[key] = {"value": v, "label": label, "cell": _cell(), "fmt": fmt,
                             "truth": None if truth is None else _finite(truth, key + ".truth")}
        return format_number(v, fmt)

    def text(self, markdown: str) -> None:
        """A paragraph for the paper. ``{{key}}`` is replaced by the registered number."""
        unknown = [k for k in re.findall(r"\{\{([^}]+)\}\}", markdown) if k not in self.numbers]
        if unknown:
            raise KeyError(f"text refers to unregistered number(s) {unknown}")
        self.items.append({"kind": "text", "markdown": markdown})

    # ------------------------------------------------------------------ tables
    def table(self, name: str, frame: pd.DataFrame, caption: str, *, keys: pd.DataFrame | None = None,
              note: str = "") -> None:
        """A table: cells are strings or numbers; ``keys`` (same shape) names the number keys of cells."""
        if frame.isna().any().any():
            bad = frame.columns[frame.isna().any()].tolist()
            raise ValueError(f"table {name!r} has missing values in columns {bad}: write '—' or '' explicitly, or drop them")
        base = self.dir / "tables" / name
        write_text(base.with_suffix(".csv"), frame.to_csv())
        write_text(base.with_suffix(".html"), frame.to_html())
        write_text(base.with_suffix(".tex"), frame.to_latex())
        cells = [[_cell_text(v) for v in row] for row in frame.itertuples(index=False)]
        k = None if keys is None else keys.reindex_like(frame).astype(object).where(keys.notna(), None).values.tolist()
        self.items.append({"kind": "table", "name": name, "caption": caption, "note": note,
                           "columns": [str(c) for c in frame.columns], "index": [str(i) for i in frame.index],
                           "index_name": str(frame.index.name or ""), "cells": cells, "keys": k})

    # ------------------------------------------------------------------ figures
    def figure(self, name: str, fig: Any, caption: str) -> None:
        """A matplotlib figure, saved as PNG (atomically)."""
        import io

        import matplotlib.pyplot as plt

        from fiproxy.pipeline.atomic import write_bytes

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
        plt.close(fig)
        write_bytes(self.dir / "figures" / f"{name}.png", buf.getvalue())
        self.items.append({"kind": "figure", "name": name, "caption": caption, "path": f"figures/{name}.png"})

    # ------------------------------------------------------------------ save
    def save(self) -> Path:
        """Write ``results.json`` (atomically); call once at the end of the notebook."""
        return write_json(self.dir / "results.json", {
            "notebook": self.notebook, "section": self.section, "order": self.order,
            "spec": self.spec, "data": self.data, "numbers": self.numbers, "items": self.items,
        })


def _cell_text(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)
