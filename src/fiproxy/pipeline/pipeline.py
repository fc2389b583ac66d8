"""The main job: run every analysis notebook into ``runs/<run_id>/``.

The stages (notebook, analysis spec, dependencies) are listed in
``analyses/pipeline.yaml``. Parameters are validated for every notebook before
any kernel starts; results come from the content-addressed cache when code,
data and parameters are unchanged; the manifest records provenance and status.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from fiproxy.pipeline.cache import REPO_DIR, Cache
from fiproxy.pipeline.manifest import mark_stale_runs, new_manifest, now, write_manifest
from fiproxy.pipeline.params import ParameterError, declared_parameters
from fiproxy.pipeline.runner import NotebookTask, TaskOutcome, run_notebooks

__all__ = ["Stage", "load_stages", "plan", "run_pipeline", "RunSummary", "DEFAULT_SEED"]

DEFAULT_SEED = 20240601
PIPELINE_FILE = REPO_DIR / "analyses" / "pipeline.yaml"


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: Path
    params: dict
    depends_on: tuple[str, ...] = ()


def load_stages(path: Path = PIPELINE_FILE) -> list[Stage]:
    """Stages of a pipeline file; notebook paths are relative to ``notebooks/`` beside ``analyses/``."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    stages = []
    for i, s in enumerate(raw.get("stages", [])):
        unknown = set(s) - {"name", "notebook", "params", "depends_on"}
        if unknown or "name" not in s or "notebook" not in s:
            raise ValueError(f"{path}: stage {i} must have name, notebook, optional params/depends_on; got {sorted(s)}")
        nb = Path(path).resolve().parents[1] / "notebooks" / s["notebook"]
        if not nb.is_file():
            raise FileNotFoundError(f"{path}: stage {s['name']!r} names missing notebook {nb}")
        stages.append(Stage(s["name"], nb, dict(s.get("params") or {}), tuple(s.get("depends_on") or ())))
    return stages


def _data_description(data_dir: str) -> tuple[dict, dict[str, str]]:
    if not data_dir:
        return {"source": "simulated", "label": "SIMULATED default panel (fiproxy.data.simulate_panel)", "files": {}}, {}
    from fiproxy.data import build_panel

    panel = build_panel(data_dir=data_dir)
    files = dict(panel.files)
    releases = {c: getattr(m, "release", "") for c, m in panel.meta.items()} if isinstance(panel.meta, dict) else {}
    return {"source": str(Path(data_dir).resolve()), "label": panel.label, "files": files,
            "releases": releases}, files


def plan(*, data_dir: str = "", seed: int = DEFAULT_SEED, overrides: dict[str, Any] | None = None,
         only: list[str] | None = None, pipeline_file: Path = PIPELINE_FILE) -> list[NotebookTask]:
    """Turn the stages and user overrides into validated notebook tasks.

    ``overrides`` maps ``"param"`` (every notebook declaring it) or
    ``"stage.param"`` (one stage) to a value. Unknown names are errors.
    """
    stages = load_stages(pipeline_file)
    names = [s.name for s in stages]
    if only:
        missing = [o for o in only if o not in names]
        if missing:
            raise ValueError(f"unknown stage(s) {missing}; stages are {names}")
    overrides = dict(overrides or {})
    used: set[str] = set()
    tasks = []
    for st in stages:
        declared = declared_parameters(st.notebook)
        params = {**st.params, "data_dir": str(data_dir), "seed": int(seed)}
        for k, v in overrides.items():
            stage, _, pname = k.rpartition(".")
            if stage and stage != st.name:
                continue
            if pname in declared:
                params[pname] = v
                used.add(k)
        tasks.append(NotebookTask(st.name, st.notebook, params, st.depends_on))
    unused = set(overrides) - used
    if unused:
        valid = sorted({p for st in stages for p in declared_parameters(st.notebook)} - {"output_dir"})
        raise ParameterError(f"unknown parameter(s) {sorted(unused)}: no stage declares them. "
                             f"Valid: {valid}; stage-specific as STAGE.PARAM with stages {names}")
    if only:
        keep = set(only)
        for t in tasks:  # include dependencies of selected stages
            if t.name in keep:
                keep |= set(t.depends_on)
        tasks = [t for t in tasks if t.name in keep]
    return tasks


@dataclass
class RunSummary:
    run_id: str
    run_dir: Path
    status: str
    outcomes: dict[str, TaskOutcome]
    seconds: float


@contextlib.contextmanager
def _executor(backend: str, jobs: int):
    """The executor of a back-end name (None: the runner's own threads)."""
    if backend == "threads":
        yield None
        return
    from distributed import Client, LocalCluster

    if backend == "dask":
        with LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client.get_executor()
    elif "://" in backend:
        with Client(backend) as client:
            yield client.get_executor()
    else:
        raise ValueError(f"unknown back end {backend!r}: use 'threads', 'dask' or a scheduler address 'tcp://…'")


def new_run_id(tasks: list[NotebookTask]) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    h = hashlib.sha256(repr([(t.name, sorted(t.params.items())) for t in tasks]).encode()).hexdigest()[:6]
    return f"{stamp}-{h}-{uuid.uuid4().hex[:4]}"


def run_pipeline(*, data_dir: str = "", seed: int = DEFAULT_SEED, overrides: dict | None = None,
                 only: list[str] | None = None, runs_dir: Path | str = REPO_DIR / "runs", jobs: int = 2,
                 timeout: float = 900.0, use_cache: bool = True, pipeline_file: Path = PIPELINE_FILE,
                 backend: str = "threads", progress: Callable[[str], None] | None = print) -> RunSummary:
    """Validate, then execute the pipeline into a new run directory.

    ``backend``: ``"threads"`` (default: ``jobs`` local threads, each driving one kernel),
    ``"dask"`` (a local Dask cluster of ``jobs`` single-threaded worker processes) or the address
    of a running Dask scheduler (``"tcp://host:8786"``) whose workers share this file system.
    Results do not depend on the back end.
    """
    t0 = time.perf_counter()
    tasks = plan(data_dir=data_dir, seed=seed, overrides=overrides, only=only,
                 pipeline_file=pipeline_file)  # errors before any kernel
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stale = mark_stale_runs(runs_dir)
    data, hashes = _data_description(data_dir)
    run_id = new_run_id(tasks)
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    man = new_manifest(run_id, data=data, seed=seed,
                       tasks={t.name: {"notebook": str(t.path.relative_to(REPO_DIR)), "params": t.params,
                                       "depends_on": list(t.depends_on), "status": "pending"} for t in tasks},
                       options={"jobs": jobs, "backend": backend, "timeout": timeout, "cache": use_cache, "overrides": overrides or {},
                                "pipeline": str(Path(pipeline_file).resolve())})
    if stale:
        man["events"].append({"time": now(), "event": f"earlier interrupted runs found: {stale}"})
    write_manifest(run_dir, man)
    say = progress or (lambda s: None)
    say(f"run {run_id}: {len(tasks)} notebooks, data: {data['label']}")

    def on_event(o: TaskOutcome) -> None:
        man["notebooks"][o.name].update(status=o.status, seconds=round(o.seconds, 3), key=o.key, error=o.error)
        write_manifest(run_dir, man)
        extra = f" — {o.error.get('ename', '')}: {o.error.get('evalue', '')}" if o.error else ""
        cell = f" (cell {o.error['cell_index']})" if o.error and "cell_index" in o.error else ""
        say(f"  [{sum(1 for v in man['notebooks'].values() if v['status'] != 'pending')}/{len(tasks)}] "
            f"{o.name}: {o.status} in {o.seconds:.1f}s{cell}{extra}")

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM -> KeyboardInterrupt -> recorded
    try:
        with _executor(backend, jobs) as executor:
            outcomes = run_notebooks(tasks, run_dir, jobs=jobs, timeout=timeout,
                                     cache=Cache(runs_dir / ".cache") if use_cache else None,
                                     data_hashes=hashes, on_event=on_event, executor=executor)
    except KeyboardInterrupt:
        man.update(status="interrupted", finished=now())
        man["events"].append({"time": now(), "event": "interrupted by signal"})
        write_manifest(run_dir, man)
        say(f"run {run_id} interrupted; completed notebooks are cached and reused by the next run")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    ok = all(o.status in ("executed", "cached") for o in outcomes.values())
    secs = time.perf_counter() - t0
    man.update(status="complete" if ok else "failed", finished=now())
    man["timings"] = {"total_seconds": round(secs, 3),
                      **{n: round(o.seconds, 3) for n, o in outcomes.items()}}
    write_manifest(run_dir, man)
    link = runs_dir / f".latest-{uuid.uuid4().hex[:8]}"
    link.symlink_to(run_id)
    link.replace(runs_dir / "latest")  # atomic: concurrent runs never see a missing link
    return RunSummary(run_id, run_dir, man["status"], outcomes, secs)
