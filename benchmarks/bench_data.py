"""Speed of the data layer: the real province panel from ../shared/data and the SIMULATED default.

Times, in the same run (median of repeats, warm caches):

* ``build_panel(data_dir=../shared/data)``: reads the 8 province source files with the
  loaders, merges, derives the catalog variables, records hashes and gaps. Anchor: plain
  pandas reading the same 8 CSV files, keeping the bank-type "total" rows and merging the
  same columns on (prov_code, year) (no checks, no derivations, no provenance).
* ``simulate_panel()``: the 31 x 13 SIMULATED panel with every catalog variable. Anchor: the
  0.5 s budget of the issue (no other package builds this panel).

Targets: real build < 2 s, simulated < 0.5 s. Prints a Markdown table with ratios; with
``--write`` appends it to docs/benchmarks/data.md.

Run from the repository root: ``python -m benchmarks.bench_data [--repeat N] [--write]``.
"""

from __future__ import annotations

import argparse
import platform
from datetime import date
from pathlib import Path

import pandas as pd

from benchmarks._common import REPO, median_time, shared_data_dir
from fiproxy.data import build_panel, simulate_panel
from fiproxy.data.real import RECIPE

DATA = shared_data_dir()


def pandas_anchor(root: Path) -> pd.DataFrame:
    out = None
    for spec in RECIPE:
        df = pd.read_csv(root / spec.path)
        if spec.row_filter:
            col, val = spec.row_filter
            df = df[df[col] == val]
        df = df[["prov_code", "year", *spec.mapping]].rename(columns=spec.mapping)
        out = df if out is None else out.merge(df, on=["prov_code", "year"], how="outer")
    return out


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--write", action="store_true", help="append the table to docs/benchmarks/data.md")
    args = ap.parse_args(argv)
    rows = []
    if DATA.is_dir():
        real = median_time(lambda: build_panel(data_dir=DATA, years=(2011, 2021)), args.repeat)
        anchor = median_time(lambda: pandas_anchor(DATA), args.repeat)
        rows.append(("real panel 31x11 from ../shared/data (8 files)", real, "pandas read_csv + merge", anchor, 2.0))
    sim = median_time(lambda: simulate_panel(), max(args.repeat, 15))
    rows.append(("simulate_panel() 31x13, all catalog variables", sim, "target budget", 0.5, 0.5))
    lines = [f"### Data layer — {date.today().isoformat()}, Python {platform.python_version()}, "
             f"median of {args.repeat}+ repeats (warm)", "",
             "| task | fiproxy (s) | anchor | anchor (s) | ratio fiproxy/anchor | target (s) | met |",
             "|---|---:|---|---:|---:|---:|:-:|"]
    for task, t, name, a, target in rows:
        lines.append(f"| {task} | {t:.3f} | {name} | {a:.3f} | {t / a:.2f} | {target:.1f} | {'yes' if t < target else 'NO'} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.write:
        doc = REPO / "docs" / "benchmarks" / "data.md"
        head = "" if doc.exists() else ("# Benchmarks: data layer\n\nProduced by `python -m benchmarks.bench_data --write`."
                                        " Machine: 2 shared cores.\n\n")
        from fiproxy.pipeline.atomic import write_text

        write_text(doc, (doc.read_text() if doc.exists() else head) + table + "\n")
    return table


if __name__ == "__main__":
    main()
