"""Scale: fixed-effect regressions up to 1e7 rows, and the 1,000-specification curve.

Part 1 — ``y ~ dfi + ln_gdp_pc`` with 2 (unit + year) and 3 (unit + year + bank)
fixed effects, CRV1 by county, on the SIMULATED large panel
(:func:`fiproxy.data.county_sim.simulate_large_panel`, 13 years per unit) at
1e4 … 1e7 rows: fiproxy.twfe against pyfixest ``feols``, linearmodels
(``PanelOLS`` for 2 FE, ``AbsorbingLS`` for 3 FE) and statsmodels (OLS with
dummies; only where the dummy matrix is small). Every (package, size, FE) case
runs in a fresh process: the fit is timed after one warm-up fit on an 8,000-row
panel (imports, numba compilation or cache loading), and the peak resident memory of the
process (``getrusage``) is reported with the part added by the fit.

Part 2 — a 1,000-fit specification curve on the SIMULATED province panel (4
outcomes x 5 treatments x 5 control sets x 2 FE structures x 5 samples, each
with CRV1 and HC1 = 2,000 specifications): serial, 2 local processes and a Dask
LocalCluster with 2 workers (start-up reported separately; each back end first
runs a one-fit curve so that workers have imported fiproxy), with the check that
all three give bit-identical estimates.

Run from the repository root: ``python -m benchmarks.bench_scale [--max-rows 1e7] [--write]``;
``--write`` replaces docs/benchmarks/scale.md with the measured tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

import numpy as np
import pandas as pd

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
FES = {2: "unit + year", 3: "unit + year + bank"}
PACKAGES = ("fiproxy", "pyfixest", "linearmodels", "statsmodels")
STATSMODELS_MAX_LEVELS = 2_000  # dummies beyond this make OLS on a dense design impractical

_CASE = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
pkg, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
from benchmarks.bench_scale import fit_case, panel
small = panel(8_000, m)  # > 400 FE levels: the numba path of the demeaning is compiled/loaded
fit_case(pkg, small, m)  # warm-up: imports, numba compilation
df = panel(n, m)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
coef = fit_case(pkg, df, m)
secs = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"secs": secs, "peak_gib": rss1 / 2**20, "fit_gib": (rss1 - rss0) / 2**20, "dfi": coef}))
"""


def panel(n: int, m: int) -> pd.DataFrame:
    from fiproxy.data.county_sim import simulate_large_panel

    return simulate_large_panel(max(2, n // 13), 13, n_counties=min(2800, max(2, n // 130)), seed=1)


def fit_case(pkg: str, df: pd.DataFrame, m: int) -> float:
    """Fit the benchmark model with one package; returns the dfi coefficient."""
    fe = FES[m]
    if pkg == "fiproxy":
        from fiproxy.estimators.twfe import twfe

        return float(twfe(f"y ~ dfi + ln_gdp_pc | {fe}", df, vcov={"CRV1": "county"}).params["dfi"])
    if pkg == "pyfixest":
        import pyfixest as pf

        return float(pf.feols(f"y ~ dfi + ln_gdp_pc | {fe}", df, vcov={"CRV1": "county"}).coef()["dfi"])
    if pkg == "linearmodels":
        if m == 2:
            from linearmodels import PanelOLS

            d = df.set_index(["unit", "year"])
            r = PanelOLS(d["y"], d[["dfi", "ln_gdp_pc"]], entity_effects=True, time_effects=True).fit(
                cov_type="clustered", clusters=d["county"])
        else:
            from linearmodels.iv.absorbing import AbsorbingLS

            absorb = df[["unit", "year", "bank"]].astype("category")
            r = AbsorbingLS(df["y"], df[["dfi", "ln_gdp_pc"]], absorb=absorb).fit(
                cov_type="clustered", clusters=df["county"])
        return float(r.params["dfi"])
    if pkg == "statsmodels":
        import statsmodels.formula.api as smf

        rhs = " + ".join(f"C({c})" for c in fe.split(" + "))
        r = smf.ols(f"y ~ dfi + ln_gdp_pc + {rhs}", df).fit(cov_type="cluster", cov_kwds={"groups": df["county"]})
        return float(r.params["dfi"])
    raise ValueError(pkg)


def run_case(pkg: str, n: int, m: int, timeout: float) -> dict:
    try:
        out = subprocess.run([sys.executable, "-c", _CASE, pkg, str(n), str(m)], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"secs": np.nan, "note": f"> {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["failed"])[-1]
        return {"secs": np.nan, "note": last[:80]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def fe_table(max_rows: int, timeout: float) -> pd.DataFrame:
    rows = []
    for m in FES:
        for n in [s for s in SIZES if s <= max_rows]:
            levels = n // 13 + 13 + (100 if m == 3 else 0)
            res = {}
            for pkg in PACKAGES:
                if pkg == "statsmodels" and levels > STATSMODELS_MAX_LEVELS:
                    res[pkg] = {"secs": np.nan, "note": "dense dummies too large"}
                    continue
                res[pkg] = run_case(pkg, n, m, timeout)
                print(f"  {m} FE, {n:>10,} rows, {pkg:<12} {res[pkg]}", file=sys.stderr, flush=True)
            base = res["fiproxy"]["secs"]
            row = {"FE": m, "rows": f"{n:,}"}
            for pkg in PACKAGES:
                r = res[pkg]
                row[f"{pkg} s"] = f"{r['secs']:.3g}" if np.isfinite(r["secs"]) else r.get("note", "n/a")
                row[f"{pkg} peak GiB"] = f"{r['peak_gib']:.2f}" if "peak_gib" in r else ""
            for pkg in PACKAGES[1:]:
                s = res[pkg]["secs"]
                row[f"{pkg}/fiproxy"] = f"{s / base:.2f}x" if np.isfinite(s) and np.isfinite(base) else ""
            rows.append(row)
    return pd.DataFrame(rows)


def _curve_args():
    from fiproxy.data import simulate_panel

    df = simulate_panel(seed=1).data
    outs = ["ln_loans_gdp", "bank_outlets_pc", "ln_dfi_breadth", "ln_ecommerce_gdp"]
    treats = ["ln_dfi_index", "ln_dfi_digitization", "ln_dfi_payment", "ln_dfi_credit", "log(dfi_index)"]
    ctrls = [[], ["ln_gdp_pc"], ["ln_gdp_pc", "secondary_share"], ["ln_gdp_pc", "secondary_share", "fiscal_gdp"],
             ["ln_gdp_pc", "secondary_share", "fiscal_gdp", "marketization"]]
    fes = [["prov_code", "year"], ["prov_code"]]
    samples = {"all": None, "post2013": "year >= 2014", "pre2020": "year < 2020", "no_beijing": "prov_code != 11",
               "inland": "prov_code > 40"}
    return df, outs, treats, ctrls, fes, samples, [{"CRV1": "prov_code"}, "HC1"]


def curve_table() -> tuple[pd.DataFrame, bool]:
    import resource

    from distributed import Client, LocalCluster

    from fiproxy.estimators.spec_curve import spec_curve
    from fiproxy.parallel import get_backend

    args = _curve_args()
    spec_curve(*args[:2], args[2][:1], args[3][:1], args[4][:1])  # warm-up (imports)
    rows, results = [], {}

    def timed(label, backend, startup=0.0):
        # warm-up over all (sample, FE) groups so that every worker has imported fiproxy
        spec_curve(args[0], args[1][:1], args[2][:1], args[3][:1], *args[4:], backend=backend)
        t0 = time.perf_counter()
        res = spec_curve(*args, backend=backend)
        secs = time.perf_counter() - t0
        results[label] = res.specs[["estimate", "se", "p"]].to_numpy()
        rows.append({"back end": label, "specifications": len(res.specs), "fits": res.info["n_fits"],
                     "seconds": f"{secs:.3g}", "start-up s": f"{startup:.2f}" if startup else "",
                     "main-process peak GiB": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f}"})

    timed("serial", "serial")
    with get_backend("processes", 2) as be:
        timed("2 processes (joblib/loky)", be)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        startup = time.perf_counter() - t0
        timed("Dask LocalCluster (2 workers)", client, startup)
    ref = results["serial"]
    identical = all(np.array_equal(ref, v) for v in results.values())
    return pd.DataFrame(rows), identical


def machine() -> str:
    import os

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    try:
        mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")) / 2**20
    except (OSError, StopIteration):
        mem = float("nan")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.1f} GiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average {load:.1f} at start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-rows", type=float, default=1e7)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per (package, size, FE) case")
    ap.add_argument("--skip-fe", action="store_true", help="only the specification-curve part")
    ap.add_argument("--write", action="store_true", help="replace docs/benchmarks/scale.md")
    args = ap.parse_args()
    import linearmodels
    import pyfixest
    import statsmodels

    versions = (f"pyfixest {pyfixest.__version__}, linearmodels {linearmodels.__version__}, "
                f"statsmodels {statsmodels.__version__}, numpy {np.__version__}, pandas {pd.__version__}")
    parts = [f"Machine: {machine()}. Packages: {versions}.", ""]
    if not args.skip_fe:
        fe = fe_table(int(args.max_rows), args.timeout)
        parts += ["### Fixed-effect regression, CRV1 by county (seconds per fit, peak RSS of the process)", "",
                  fe.to_markdown(index=False), ""]
    curve, identical = curve_table()
    parts += ["### 1,000-fit specification curve on the province panel (403 rows)", "",
              curve.to_markdown(index=False), "",
              f"Estimates, standard errors and p-values bit-identical across back ends: {identical}.", ""]
    text = "\n".join(parts)
    print(text)
    if args.write:
        from pathlib import Path

        from fiproxy.pipeline.atomic import write_text

        head = ("# Benchmark: scale (large panels, specification curve, back ends)\n\n"
                "Produced by `python -m benchmarks.bench_scale --write` (see the module docstring for the "
                "design). Data are SIMULATED (`fiproxy.data.county_sim`, `fiproxy.data.simulate_panel`).\n\n")
        write_text(Path("docs/benchmarks/scale.md"), head + text)


if __name__ == "__main__":
    main()
