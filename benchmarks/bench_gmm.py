"""Speed of fiproxy.gmm on abdata (Arellano and Bond 1991: 140 firms, 1976-1984).

Times, in the same run (median of ``--repeat`` fits after one warm-up fit):

1. one-step difference GMM, Arellano-Bond Table 4 column a1 (41 instruments);
2. two-step difference GMM with the Windmeijer correction (column a2);
3. two-step system GMM, the Blundell-Bond specification of Roodman (2009, section 3.4),
   113 instruments (target: under 1 s);
4. the same with collapsed instruments;

against the anchor package linearmodels (``PanelOLS`` within regression of the same
column-a1 equation on the same data). No installed Python package estimates system
GMM under numpy 2 (pydynpd 0.2.2 fails), so the anchor times a fixed-effects fit, the
cheapest estimator of the same equation. Prints a Markdown table with ratios.
Run from the repository root: ``python -m benchmarks.bench_gmm [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import platform

import pandas as pd

from benchmarks._common import median_time, read_shared_csv
from fiproxy.estimators.gmm import gmm

AB = dict(panel=("id", "year"), lags=2, exog=["l(w, 0:1)", "l(k, 0:2)", "l(ys, 0:2)"])
BB = dict(panel=("id", "year"), lags=1, endogenous=["l(w, 0:1)", "l(k, 0:1)"], system=True)


def load() -> pd.DataFrame:
    return read_shared_csv("abdata", "abdata.csv")


def panelols_anchor(df: pd.DataFrame):
    from linearmodels.panel import PanelOLS

    d = df.sort_values(["id", "year"]).copy()
    g = d.groupby("id")
    cols = {"n1": ("n", 1), "n2": ("n", 2), "w1": ("w", 1), "k1": ("k", 1), "k2": ("k", 2),
            "ys1": ("ys", 1), "ys2": ("ys", 2)}
    for name, (var, k) in cols.items():
        d[name] = g[var].shift(k).where(g["year"].diff(k) == k)
    d = d.dropna(subset=list(cols)).set_index(["id", "year"])
    exog = ["n1", "n2", "w", "w1", "k", "k1", "k2", "ys", "ys1", "ys2"]
    return lambda: PanelOLS(d["n"], d[exog], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    df = load()
    anchor = median_time(panelols_anchor(df), args.repeat)
    cases = [
        ("difference GMM, one-step robust (AB 1991 a1)", lambda: gmm(df, "n", steps=1, **AB)),
        ("difference GMM, two-step Windmeijer (AB 1991 a2)", lambda: gmm(df, "n", steps=2, **AB)),
        ("system GMM, two-step Windmeijer (BB 1998 / Roodman 2009)", lambda: gmm(df, "n", steps=2, **BB)),
        ("system GMM, two-step, collapsed", lambda: gmm(df, "n", steps=2, collapse=True, **BB)),
    ]
    print(f"abdata: {len(df)} rows, 140 firms; Python {platform.python_version()}, {os.cpu_count()} cores; "
          f"median of {args.repeat} fits\n")
    print("| case | instruments | fiproxy (s) | anchor: linearmodels PanelOLS (s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for label, fn in cases:
        t = median_time(fn, args.repeat)
        print(f"| {label} | {fn().stats['n_instruments']} | {t:.3f} | {anchor:.3f} | {t / anchor:.1f}x |")
    sys_t = median_time(cases[2][1], args.repeat)
    print(f"\ntarget: two-step system GMM under 1 s -> {'met' if sys_t < 1 else 'MISSED'} ({sys_t:.3f} s)")


if __name__ == "__main__":
    main()
