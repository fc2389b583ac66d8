"""Speed of Callaway–Sant'Anna DiD on mpdta with 999 multiplier-bootstrap draws.

Times, in the same run, ``fiproxy.did`` against the Python packages ``csdid``
and ``differences`` (when installed): ATT(g,t) with the doubly robust
estimator, never-treated comparisons, 999 bootstrap draws, then the event-time
aggregation. Prints a Markdown table with the ratio to fiproxy.

Run from the repository root: ``python -m benchmarks.bench_did [--repeat N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import best_time, shared_data_dir
from fiproxy.estimators.did import did

DATA = shared_data_dir() / "mpdta" / "mpdta.csv"
B = 999


def run_fiproxy(d: pd.DataFrame) -> float:
    res = did(d, "lemp", "county_id", "year", "first_treat", covariates=["lpop"], biters=B, seed=1)
    return float(res.params["e=0"])


def run_csdid(d: pd.DataFrame) -> float:
    from csdid.att_gt import ATTgt

    with contextlib.redirect_stdout(io.StringIO()):
        m = ATTgt(yname="lemp", gname="first_treat", idname="county_id", tname="year", xformla="lemp~lpop",
                  data=d, biters=B, cband=True).fit(est_method="dr", bstrap=True)
        m.aggte("dynamic", biters=B, cband=True)
    return float(np.asarray(m.atte["att_egt"])[3])


def run_differences(d: pd.DataFrame) -> float:
    from differences import ATTgt

    p = d.assign(cohort=d["first_treat"].replace(0, np.nan)).set_index(["county_id", "year"])
    att = ATTgt(data=p, cohort_column="cohort")
    att.fit(formula="lemp ~ lpop", est_method="dr-mle", control_group="never_treated", boot_iterations=B,
            random_state=1, progress_bar=False)
    ev = att.aggregate("event", boot_iterations=B, random_state=1)
    return float(ev.iloc[3, 0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    d = pd.read_csv(DATA)
    rows = []
    warnings.simplefilter("ignore")
    t_fi, v_fi = best_time(run_fiproxy, d, repeat=args.repeat)
    rows.append(("fiproxy.did", t_fi, v_fi))
    for name, fn in (("csdid", run_csdid), ("differences", run_differences)):
        try:
            t, v = best_time(fn, d, repeat=args.repeat)
        except ImportError as err:
            print(f"<!-- {name} not installed: {err} -->")
            continue
        rows.append((name, t, v))
    print(f"CS-DiD on mpdta (500 counties x 5 years, DR with ~lpop, {B} bootstrap draws + event aggregation); "
          f"best of {args.repeat}")
    print()
    print("| package | seconds | ratio to fiproxy | ATT(e=0) |")
    print("|---|---:|---:|---:|")
    for name, t, v in rows:
        print(f"| {name} | {t:.4f} | {t / t_fi:.1f}x | {v:.6f} |")


if __name__ == "__main__":
    main()
