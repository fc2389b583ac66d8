"""Whole default pipeline (`fiproxy run` on the SIMULATED panel): time against a serial papermill loop.

Anchor: the same notebooks with the same parameters executed one after the other with plain
``papermill.execute_notebook`` (no validation, no cache, no parallelism), in the same process run.
Reports: fiproxy with 2 parallel notebooks (no cache), fiproxy served from the cache, the anchor,
and the ratios. Target: the whole default pipeline under 3 minutes on 2 cores; a cached rerun
under 10% of the first run. Prints a Markdown table; ``--write`` also stores it in
``docs/benchmarks/pipeline.md``.

    python -m benchmarks.bench_pipeline [--write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import papermill

from fiproxy.pipeline.kernel import KERNEL_NAME, IPCKernelManager, ensure_kernelspec
from fiproxy.pipeline.params import read_notebook
from fiproxy.pipeline.pipeline import plan, run_pipeline

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "pipeline.md"


def serial_papermill(tmp: Path) -> float:
    ensure_kernelspec()
    t0 = time.perf_counter()
    for t in plan():
        out = tmp / t.name
        out.mkdir(parents=True)
        papermill.execute_notebook(read_notebook(t.path), str(out / "nb.ipynb"),
                                   parameters={**t.params, "output_dir": str(out)}, kernel_name=KERNEL_NAME,
                                   language="python", progress_bar=False, kernel_manager_class=IPCKernelManager)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        first = run_pipeline(runs_dir=d / "runs", jobs=2, progress=None)
        cached = run_pipeline(runs_dir=d / "runs", jobs=2, progress=None)
        anchor = serial_papermill(d / "papermill")
    n = len(first.outcomes)
    rows = [
        ("fiproxy run, 2 notebooks at a time, no cache", first.seconds, anchor / first.seconds),
        ("fiproxy run, nothing changed (cache)", cached.seconds, anchor / cached.seconds),
        ("serial papermill loop (anchor)", anchor, 1.0),
    ]
    md = [f"Whole default pipeline: {n} notebooks on the SIMULATED panel (status {first.status}).", "",
          "| run | seconds | speed-up vs serial papermill |", "|---|---:|---:|"]
    md += [f"| {a} | {b:.1f} | {c:.2f}× |" for a, b, c in rows]
    md += ["", f"Target: under 180 s (measured {first.seconds:.1f} s); cached rerun under 10% of the first "
               f"({100 * cached.seconds / first.seconds:.1f}%)."]
    text = "\n".join(md)
    print(text)
    if args.write:
        from fiproxy.pipeline.atomic import write_text

        write_text(DOC, "# Pipeline speed\n\n`python -m benchmarks.bench_pipeline` (2 cores).\n\n" + text + "\n")


if __name__ == "__main__":
    main()
