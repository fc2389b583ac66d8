"""Speed of the Hansen (1999) panel threshold model on Hansen's data (565 firms x 14 years).

Times, in the same run:

1. ``fiproxy.threshold`` single threshold, exhaustive grid (every distinct value of the
   threshold variable, 6,667 candidates), 300 bootstrap replications, ``n_jobs=2`` and
   ``n_jobs=1`` (target: under 10 s on 2 cores);
2. the SSR profile alone: fiproxy's cumulative-sum search (``bootstrap=0``) against the
   naive search that refits the within regression at every grid point (numpy: demean the
   interaction, least squares), and against pyfixest ``feols`` refits (anchor package) on
   the first ``--anchor-points`` grid points, extrapolated to the full grid;
3. the naive bootstrap cost implied by (2): 301 profiles (the sample and 300 draws).

The naive and fast profiles are compared (largest absolute SSR difference). Prints a
Markdown table with ratios. Run from the repository root:
``python -m benchmarks.bench_threshold [--anchor-points N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings

import numpy as np
import pandas as pd

import fiproxy
from benchmarks._common import read_shared_csv, timed
from fiproxy.estimators.demean import demean, factorize_fe

XS = ["tobin_q_lag1", "tobin_q_lag1_sq_div100", "tobin_q_lag1_cu_div1000", "debt_assets_lag1",
      "tobin_q_lag1_x_debt_assets_lag1"]
FORMULA = "invest_assets ~ " + " + ".join(XS) + " | id"
Q, Z = "debt_assets_lag1", "cashflow_assets_lag1"


def load() -> pd.DataFrame:
    return read_shared_csv("hansen1999", "hansen1999.csv")


def naive_profile(df: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Refit the within regression at every grid point (the comparison implementation)."""
    unit = factorize_fe(df["id"])
    y = demean(df["invest_assets"].to_numpy(), unit)[0]
    base = demean(df[XS + [Z]].to_numpy(), unit)[0]
    z, q = df[Z].to_numpy(), df[Q].to_numpy()
    out = np.empty(len(grid))
    for j, g in enumerate(grid):
        W = np.column_stack([base, demean(z * (q <= g), unit)[0]])
        e = y - W @ np.linalg.lstsq(W, y, rcond=None)[0]
        out[j] = e @ e
    return out


def pyfixest_profile(df: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    import pyfixest as pf

    out = np.empty(len(grid))
    for j, g in enumerate(grid):
        d = df.assign(w=df[Z] * (df[Q] <= g))
        out[j] = float(np.sum(pf.feols(FORMULA.replace(" | id", f" + {Z} + w | id"), data=d).resid() ** 2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchor-points", type=int, default=100)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    df = load()
    kw = dict(q=Q, regime=Z)
    fiproxy.threshold(FORMULA, df, **kw, bootstrap=10, seed=0, n_jobs=2)  # warm-up (imports, thread pool)

    t_b2, r = timed(lambda: fiproxy.threshold(FORMULA, df, **kw, bootstrap=300, seed=1, n_jobs=2))
    t_b1, r1 = timed(lambda: fiproxy.threshold(FORMULA, df, **kw, bootstrap=300, seed=1, n_jobs=1))
    assert np.array_equal(r.extra["bootstrap_F"]["single"], r1.extra["bootstrap_F"]["single"])
    t_fast, r0 = timed(lambda: fiproxy.threshold(FORMULA, df, **kw, bootstrap=0))
    prof = r0.extra["lr_profiles"]["Th-1"]
    grid = prof["gamma"].to_numpy()

    t_naive, naive = timed(lambda: naive_profile(df, grid))
    diff = float(np.max(np.abs(naive - prof["ssr"].to_numpy())))
    sub = grid[: args.anchor_points]
    pyfixest_profile(df, sub[:2])  # warm-up (numba compilation)
    t_pf_sub, pf_ssr = timed(lambda: pyfixest_profile(df, sub))
    t_pf = t_pf_sub * len(grid) / len(sub)
    pf_diff = float(np.max(np.abs(pf_ssr - prof["ssr"].to_numpy()[: len(sub)])))

    print(f"Hansen (1999) data: {r.nobs} rows, {r.stats['n_units']} firms, {len(grid)} candidate thresholds; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    print(f"threshold {r.stats['th1']:.4f}, SSR {r.stats['rss']:.4f}, F1 {r.stats['F1']:.2f}, "
          f"bootstrap p {r.stats['F1_pvalue']:.3f}; naive-fast max |dSSR| {diff:.1e}, pyfixest-fast {pf_diff:.1e}")
    print()
    print("| task | fiproxy (s) | comparison | comparison (s) | ratio |")
    print("|---|---:|---|---:|---:|")
    print(f"| single threshold + 300 bootstrap, n_jobs=2 | {t_b2:.2f} | target | 10.00 | {10 / t_b2:.1f} |")
    print(f"| single threshold + 300 bootstrap, n_jobs=1 | {t_b1:.2f} | fiproxy n_jobs=2 | {t_b2:.2f} | "
          f"{t_b1 / t_b2:.2f} |")
    print(f"| SSR profile + slopes ({len(grid)} points) | {t_fast:.3f} | naive refit per grid point (numpy) | "
          f"{t_naive:.2f} | {t_naive / t_fast:.0f} |")
    print(f"| SSR profile + slopes ({len(grid)} points) | {t_fast:.3f} | pyfixest feols per grid point "
          f"(extrapolated from {len(sub)}) | {t_pf:.1f} | {t_pf / t_fast:.0f} |")
    print(f"| single threshold + 300 bootstrap | {t_b2:.2f} | naive refit, 301 profiles (extrapolated) | "
          f"{301 * t_naive:.0f} | {301 * t_naive / t_b2:.0f} |")


if __name__ == "__main__":
    main()
