"""Command-line commands of the pipeline: ``run``, ``paper``, ``estimate``, ``trace``, ``verify``.

Exit codes: 0 success; 1 a notebook failed, a key was not found or a verified
number differs; 2 invalid arguments or parameters (nothing was executed);
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from fiproxy.pipeline.cache import REPO_DIR

__all__ = ["add_commands", "verify_run"]


def _param(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param takes NAME=VALUE or STAGE.NAME=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    return k.strip(), yaml.safe_load(v)


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="", metavar="DIR",
                   help="folder of real source files laid out like ../shared/data (default: the SIMULATED panel)")
    p.add_argument("--seed", type=int, default=None, help="random seed for simulation and bootstraps")
    p.add_argument("--param", action="append", type=_param, default=[], metavar="[STAGE.]NAME=VALUE",
                   help="override a notebook parameter (validated before anything runs)")
    p.add_argument("--only", action="append", default=None, metavar="STAGE", help="run only this stage (and its dependencies)")
    p.add_argument("--jobs", type=int, default=2, help="notebooks executed at the same time (default 2)")
    p.add_argument("--backend", default="threads",
                   help="threads (default), dask (local cluster of --jobs workers) or a Dask scheduler address")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds a notebook cell may run (default 900)")
    p.add_argument("--no-cache", action="store_true", help="execute every notebook even when cached results exist")
    p.add_argument("--runs-dir", type=Path, default=REPO_DIR / "runs", help="where run directories go (default runs/)")
    p.add_argument("--pipeline", type=Path, default=None, metavar="FILE",
                   help="stage file (default analyses/pipeline.yaml; notebooks are read from ../notebooks beside it)")


def _run(args) -> tuple[int, object]:
    from fiproxy.pipeline.params import ParameterError
    from fiproxy.pipeline.pipeline import DEFAULT_SEED, PIPELINE_FILE, run_pipeline

    try:
        summary = run_pipeline(data_dir=args.data, seed=DEFAULT_SEED if args.seed is None else args.seed,
                               overrides=dict(args.param), only=args.only, runs_dir=args.runs_dir, jobs=args.jobs,
                               timeout=args.timeout, use_cache=not args.no_cache,
                               pipeline_file=args.pipeline or PIPELINE_FILE, backend=args.backend)
    except (ParameterError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2, None
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # running kernels stop with this process; nothing half-written was published
    print(f"run {summary.run_id}: {summary.status} in {summary.seconds:.1f}s -> {summary.run_dir}")
    return (0 if summary.status == "complete" else 1), summary


def cmd_run(args) -> int:
    return _run(args)[0]


def cmd_paper(args) -> int:
    from fiproxy.report.paper import PaperError, build_paper

    code, summary = _run(args)
    if code:
        return code
    try:
        out = build_paper(summary.run_dir)
    except PaperError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"paper: {out['pdf']}\n       {out['html']}")
    return 0


def cmd_trace(args) -> int:
    from fiproxy.pipeline.trace import TraceError, trace

    try:
        info = trace(args.key, runs_dir=args.runs_dir, run_id=args.run)
    except TraceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    cell = info.pop("cell")
    print(json.dumps(info, indent=2, ensure_ascii=False, default=str))
    if cell:
        print(f"--- cell {cell.get('cell_index')} (execution count {cell.get('execution_count')}) of "
              f"{info['notebook']} ---\n{cell.get('source', '')}")
    return 0


def verify_run(run_id: str, *, runs_dir: Path, rtol: float = 0.0, jobs: int = 2, progress=print,
               pipeline_file: Path | None = None) -> dict:
    """Re-execute a run from its manifest (no cache) and compare every registered number."""
    from fiproxy.pipeline.manifest import read_manifest
    from fiproxy.pipeline.pipeline import PIPELINE_FILE, run_pipeline

    old_dir = Path(runs_dir) / run_id
    man = read_manifest(old_dir)
    src = man["data"].get("source", "simulated")
    overrides = {f"{n}.{k}": v for n, nb in man["notebooks"].items() for k, v in nb["params"].items()
                 if k not in ("data_dir", "seed")}
    new = run_pipeline(data_dir="" if src == "simulated" else src, seed=man["seed"], overrides=overrides,
                       only=list(man["notebooks"]), runs_dir=runs_dir, jobs=jobs, use_cache=False, progress=progress,
                       pipeline_file=pipeline_file or man["options"].get("pipeline") or PIPELINE_FILE)
    diffs = []
    for res in sorted(old_dir.glob("notebooks/*/results.json")):
        a = json.loads(res.read_text())["numbers"]
        other = new.run_dir / res.relative_to(old_dir)
        b = json.loads(other.read_text())["numbers"] if other.is_file() else {}
        for k, v in a.items():
            w = b.get(k, {}).get("value")
            if w is None or abs(w - v["value"]) > rtol * max(abs(v["value"]), 1e-300):
                diffs.append({"key": k, "original": v["value"], "rerun": w})
    return {"run_id": run_id, "rerun_id": new.run_id, "status": new.status, "differences": diffs}


def cmd_verify(args) -> int:
    try:
        rep = verify_run(args.run_id, runs_dir=args.runs_dir, rtol=args.rtol, jobs=args.jobs,
                         pipeline_file=args.pipeline)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for d in rep["differences"]:
        print(f"DIFFERS {d['key']}: original {d['original']!r}, rerun {d['rerun']!r}")
    print(f"verify {rep['run_id']} -> {rep['rerun_id']}: {rep['status']}, {len(rep['differences'])} number(s) differ")
    return 0 if rep["status"] == "complete" and not rep["differences"] else 1


def cmd_estimate(args) -> int:
    from fiproxy.pipeline.estimate import ESTIMATORS, fit_model
    from fiproxy.pipeline.panel import load_panel
    from fiproxy.pipeline.pipeline import DEFAULT_SEED
    from fiproxy.pipeline.specs import SpecError, load_spec

    try:
        S = load_spec(args.spec)
    except SpecError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    models = [m for m in S["models"] if args.model is None or m["id"] in args.model]
    if args.model and len(models) != len(args.model):
        print(f"error: unknown model(s) {sorted(set(args.model) - {m['id'] for m in models})}; "
              f"spec {S['id']} has {[m['id'] for m in S['models']]}", file=sys.stderr)
        return 2
    seed = DEFAULT_SEED if args.seed is None else args.seed
    panel = load_panel(args.data, seed)
    print(f"{S['title']}\n{panel.label}\n")
    code = 0
    for m in models:
        if m["estimator"] not in ESTIMATORS:
            print(f"[{m['id']}] {m['estimator']}: not available from the command line; run the notebook", file=sys.stderr)
            code = 1
            continue
        print(f"[{m['id']}] {m['estimator']} ({m.get('label', '')})", flush=True)
        res = fit_model(S, m, panel.data, seed=seed, draws=args.draws)
        print(res.summary() if hasattr(res, "summary") else res.to_frame().to_string())
        print()
    return code


def add_commands(sub) -> None:
    """Register run / paper / trace / verify on an argparse sub-parser collection."""
    p = sub.add_parser("run", help="execute the analysis notebooks into runs/<run_id>/")
    _run_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("paper", help="run the pipeline and write the paper draft (PDF + HTML)")
    _run_options(p)
    p.set_defaults(func=cmd_paper)
    p = sub.add_parser("estimate", help="fit the models of one analysis spec and print them")
    p.add_argument("spec", help="spec name in analyses/ (e.g. h1_cost_access) or a path to a spec file")
    p.add_argument("--model", action="append", default=None, metavar="ID", help="only this model id (repeatable)")
    p.add_argument("--data", default="", metavar="DIR", help="folder of real source files (default: SIMULATED panel)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--draws", type=int, default=0, help="bootstrap draws (default: the spec's)")
    p.set_defaults(func=cmd_estimate)
    p = sub.add_parser("trace", help="show where a number in the paper came from")
    p.add_argument("key", help="trace key of the number (shown in the HTML tooltips and under each PDF table)")
    p.add_argument("--run", default=None, help="run id (default: the latest run that has the key)")
    p.add_argument("--runs-dir", type=Path, default=REPO_DIR / "runs")
    p.set_defaults(func=cmd_trace)
    p = sub.add_parser("verify", help="re-execute a run from its manifest and report numbers that differ")
    p.add_argument("run_id")
    p.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0: identical)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--runs-dir", type=Path, default=REPO_DIR / "runs")
    p.add_argument("--pipeline", type=Path, default=None, metavar="FILE",
                   help="stage file (default: the one recorded in the run's manifest)")
    p.set_defaults(func=cmd_verify)
