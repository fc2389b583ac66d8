"""Run every benchmark and assemble ``docs/benchmarks.md``: ``python -m benchmarks`` (``make bench``).

Each ``benchmarks/bench_<topic>.py`` runs as ``python -m benchmarks.bench_<topic>``
in its own process, one after the other (they measure speed: running them side by
side would distort each other), with a time limit. ``docs/benchmarks.md`` is then
written (atomically) with:

1. the machine (CPU, cores, memory, OS, Python, load) and the git commit;
2. per topic, the Markdown output of this run (or the failure / time-out), followed
   by that topic's notes and recorded tables from ``docs/benchmarks/<topic>.md``.

Options: ``--only scale,did`` / ``--skip scale`` select topics; ``--no-run``
assembles from the topic files without running anything; ``--timeout`` bounds
each benchmark (seconds); ``--args topic="..."`` passes arguments to one
benchmark (e.g. ``--args scale="--max-rows 1e6"``).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
TOPIC_DIR = ROOT / "docs" / "benchmarks"


def topics() -> list[str]:
    """Benchmark topics: the ``<topic>`` of every ``benchmarks/bench_<topic>.py``."""
    return sorted(p.stem[len("bench_"):] for p in (ROOT / "benchmarks").glob("bench_*.py"))


def run_topic(topic: str, extra: list[str], timeout: float) -> tuple[str, float, str]:
    """(status, seconds, Markdown output) of one benchmark run."""
    t0 = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-m", f"benchmarks.bench_{topic}", *extra], cwd=ROOT,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0, f"_Stopped after the time limit of {timeout:.0f} s._"
    secs = time.perf_counter() - t0
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-12:])
        return "failed", secs, f"_Failed (exit code {out.returncode}):_\n\n```\n{tail}\n```"
    return "ok", secs, out.stdout.strip()


def machine_info() -> list[str]:
    from benchmarks.bench_scale import machine

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    return [f"- Machine: {machine()}",
            f"- Git commit: {commit}; assembled {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"]


def assemble(selected: list[str], runs: dict[str, tuple[str, float, str]]) -> str:
    lines = ["# fiproxy benchmarks", "",
             "Produced by `python -m benchmarks` (`make bench`): every `benchmarks/bench_*.py` is run "
             "in its own process, one after the other, and compared with its anchor packages in the same "
             "run. Ratios (anchor time / fiproxy time) are what to read: absolute times depend on the "
             "machine and its load.", "", *machine_info(), ""]
    for topic in selected:
        lines += [f"## {topic.replace('_', ' ')}", ""]
        if topic in runs:
            status, secs, text = runs[topic]
            lines += [f"### This run ({status}, {secs:.0f} s)", "", text, ""]
        notes = TOPIC_DIR / f"{topic}.md"
        if notes.exists():
            body = notes.read_text(encoding="utf-8").strip().splitlines()
            if body and body[0].startswith("# "):
                body = body[1:]  # the topic file's own title
            lines += [f"### Notes and recorded measurements (`docs/benchmarks/{topic}.md`)", "",
                      *[("#" + ln if ln.startswith("#") else ln) for ln in body], ""]
        elif topic not in runs:
            lines += ["_No recorded measurements._", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated topics to include")
    ap.add_argument("--skip", default="", help="comma-separated topics to leave out")
    ap.add_argument("--no-run", action="store_true", help="assemble from docs/benchmarks/*.md only")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    ap.add_argument("--args", action="append", default=[], metavar='TOPIC="ARGS"',
                    help="extra arguments for one benchmark")
    args = ap.parse_args(argv)
    known = topics()
    only = [t for t in args.only.split(",") if t]
    skip = [t for t in args.skip.split(",") if t]
    extra = {}
    for item in args.args:
        topic, sep, rest = item.partition("=")
        if not sep:
            ap.error(f"--args expects TOPIC=\"ARGS\", got {item!r}")
        extra[topic] = shlex.split(rest)
    unknown = sorted(set(only + skip + list(extra)) - set(known))
    if unknown:
        ap.error(f"unknown benchmark topic(s) {unknown}; available: {known}")
    selected = [t for t in known if (not only or t in only) and t not in skip]
    runs = {}
    if not args.no_run:
        for topic in selected:
            print(f"running benchmarks.bench_{topic} …", file=sys.stderr, flush=True)
            runs[topic] = run_topic(topic, extra.get(topic, []), args.timeout)
            print(f"  {runs[topic][0]} in {runs[topic][1]:.0f} s", file=sys.stderr, flush=True)
    from fiproxy.pipeline.atomic import write_text

    write_text(DOC, assemble(selected, runs))
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    failed = [t for t, r in runs.items() if r[0] != "ok"]
    if failed:
        print(f"benchmarks that did not finish: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
