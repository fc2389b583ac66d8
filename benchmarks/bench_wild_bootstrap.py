"""Speed of the wild cluster bootstrap (WCR, Rademacher, 9,999 draws).

Times, in the same run, ``fiproxy.wild_bootstrap`` against pyfixest's
``Feols.wildboottest()`` (which runs the ``wildboottest`` package) on
simulated data:

1. a province panel: 403 rows = 31 clusters × 13 years, ``y ~ x1 + x2 | g + year``,
   CRV1 by province (target: under 0.1 s);
2. 1,000,000 rows in 50 clusters, ``y ~ x1 + x2`` (target: at least 2× faster
   than pyfixest).

The model fits are not timed. Each tool is called once untimed first (numba
compilation, caches), then the best of ``--repeat`` runs is reported.
fiproxy is timed with and without the confidence interval (test inversion);
pyfixest computes no interval. Prints a Markdown table with the ratio
pyfixest / fiproxy.

Run from the repository root: ``python -m benchmarks.bench_wild_bootstrap [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import best_time
from fiproxy.estimators.inference.wild_bootstrap import wild_bootstrap
from fiproxy.estimators.twfe import twfe

B = 9999


def simulate(G: int, n_per: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(G), n_per)
    n = len(g)
    df = pd.DataFrame({"g": g, "year": np.tile(np.arange(n_per) % 13, G)})
    df["x1"] = rng.normal(size=n) + 0.3 * rng.normal(size=G)[g]
    df["x2"] = rng.normal(size=n)
    df["y"] = 0.05 * df.x1 + 0.5 * df.x2 + rng.normal(size=G)[g] + rng.normal(size=n)
    return df


def best_of(fn, repeat: int) -> float:
    return best_time(fn, repeat=repeat)[0]


def case(label: str, df: pd.DataFrame, fml: str, repeat: int) -> dict:
    import pyfixest as pf

    res = twfe(fml, df, vcov={"CRV1": "g"})
    fit = pf.feols(fml, df, vcov={"CRV1": "g"})
    ours = wild_bootstrap(res, "x1", B=B, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = fit.wildboottest(param="x1", reps=B, seed=1)
        t_ref = best_of(lambda: fit.wildboottest(param="x1", reps=B, seed=1), repeat)
    t_ci = best_of(lambda: wild_bootstrap(res, "x1", B=B, seed=1), repeat)
    t_noci = best_of(lambda: wild_bootstrap(res, "x1", B=B, seed=1, conf_int=False), repeat)
    return {"case": label, "fiproxy (p + CI) s": t_ci, "fiproxy (p only) s": t_noci, "pyfixest s": t_ref,
            "ratio pyfixest/fiproxy (p only)": t_ref / t_noci, "ratio pyfixest/fiproxy (p + CI)": t_ref / t_ci,
            "p fiproxy": ours.pvalue, "p pyfixest": float(ref["Pr(>|t|)"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = [
        case("403 rows, 31 clusters, FE g+year", simulate(31, 13), "y ~ x1 + x2 | g + year", args.repeat),
        case("1e6 rows, 50 clusters", simulate(50, 20_000), "y ~ x1 + x2", max(1, args.repeat - 1)),
    ]
    tab = pd.DataFrame(rows).set_index("case")
    import pyfixest

    print(f"Wild cluster bootstrap, WCR, Rademacher, B={B}; best of {args.repeat}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"pyfixest {pyfixest.__version__}\n")
    print(tab.to_markdown(floatfmt=".4g"))


if __name__ == "__main__":
    main()
