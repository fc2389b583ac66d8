"""Speed of ``fiproxy.twfe`` against pyfixest ``feols`` and linearmodels ``PanelOLS``.

Run from the repository root::

    python -m benchmarks.bench_twfe            # all sizes incl. the 5e6-row memory check
    python -m benchmarks.bench_twfe --no-big   # skip the 5e6-row check

Cases (two-way fixed effects, CRV1 by the first fixed effect, two regressors):
province panel (31 x 13 = 403 rows), 1e5 rows and 1e6 rows (units with ~20
observations each, 100 periods). Each timing is the median of repeated calls
after one warm-up call (which absorbs compilation). The 5e6-row check fits in
a fresh subprocess and reports its peak resident memory (``ru_maxrss``).
Prints a Markdown table with the ratios anchor / fiproxy (> 1: fiproxy faster).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import median_time


def panel(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if n == 403:
        d = pd.DataFrame([(p, t) for p in range(11, 42) for t in range(2011, 2024)], columns=["unit", "time"])
    else:
        units = n // 20  # each unit observed in 20 distinct periods out of 100
        times = np.argsort(rng.random((units, 100)), axis=1)[:, :20].ravel()
        d = pd.DataFrame({"unit": np.repeat(np.arange(units), 20), "time": times})
    m = len(d)
    ue = rng.normal(size=int(d.unit.max()) + 1)[d.unit]
    te = rng.normal(size=int(d.time.max()) + 1)[d.time]
    d["x1"] = rng.normal(size=m) + 0.5 * ue
    d["x2"] = rng.normal(size=m) + 0.3 * te
    d["y"] = d.x1 - 0.5 * d.x2 + ue + te + rng.normal(size=m)
    return d


def run_case(n: int, repeat: int, with_linearmodels: bool) -> dict:
    import pyfixest as pf

    import fiproxy

    d = panel(n)
    fml = "y ~ x1 + x2 | unit + time"
    out = {"rows": len(d),
           "fiproxy": median_time(lambda: fiproxy.twfe(fml, d, vcov={"CRV1": "unit"}), repeat),
           "pyfixest": median_time(lambda: pf.feols(fml, d, vcov={"CRV1": "unit"}), repeat)}
    if with_linearmodels:
        from linearmodels import PanelOLS

        def lm():
            p = d.set_index(["unit", "time"])
            return PanelOLS(p.y, p[["x1", "x2"]], entity_effects=True, time_effects=True).fit(
                cov_type="clustered", cluster_entity=True)
        out["PanelOLS"] = median_time(lm, repeat)
    a = fiproxy.twfe(fml, d, vcov={"CRV1": "unit"})
    b = pf.feols(fml, d, vcov={"CRV1": "unit"})
    out["max |diff| coef"] = float(np.abs(a.params.to_numpy() - b.coef().to_numpy()).max())
    return out


def big_memory(n: int) -> dict:
    """Fit on n rows in this process; peak RSS in GiB (call in a fresh subprocess)."""
    import fiproxy

    d = panel(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    r = fiproxy.twfe("y ~ x1 + x2 | unit + time", d, vcov={"CRV1": "unit"})
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rows": n, "seconds": secs, "peak_rss_gib": peak / 2 ** 20,
            "data_rss_gib": base / 2 ** 20, "x1": float(r.params["x1"])}


def fmt_ms(s: float) -> str:
    return f"{s * 1e3:.1f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-big", action="store_true", help="skip the 5e6-row memory check")
    ap.add_argument("--big-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--big-rows", type=int, default=5_000_000)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.big_only:
        print(json.dumps(big_memory(args.big_rows)))
        return
    rows = []
    for n, rep, lm in [(403, 50, True), (100_000, 5, True), (1_000_000, 3, False)]:
        rows.append(run_case(n, rep, lm))
    print("| rows | fiproxy (ms) | pyfixest feols (ms) | ratio pyfixest/fiproxy | PanelOLS (ms) | ratio PanelOLS/fiproxy | max abs coef diff |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        lm = r.get("PanelOLS")
        lm_ms = fmt_ms(lm) if lm else "–"
        lm_ratio = f"{lm / r['fiproxy']:.2f}" if lm else "–"
        print(f"| {r['rows']:,} | {fmt_ms(r['fiproxy'])} | {fmt_ms(r['pyfixest'])} | {r['pyfixest'] / r['fiproxy']:.2f} | "
              f"{lm_ms} | {lm_ratio} | {r['max |diff| coef']:.1e} |")
    if not args.no_big:
        res = subprocess.run([sys.executable, "-m", "benchmarks.bench_twfe", "--big-only",
                              "--big-rows", str(args.big_rows)], capture_output=True, text=True, check=True)
        info = json.loads(res.stdout.strip().splitlines()[-1])
        print()
        print("| rows | fiproxy fit (s) | peak RSS (GiB) | RSS after building the data (GiB) |")
        print("|---:|---:|---:|---:|")
        print(f"| {info['rows']:,} | {info['seconds']:.1f} | {info['peak_rss_gib']:.2f} | {info['data_rss_gib']:.2f} |")


if __name__ == "__main__":
    main()
