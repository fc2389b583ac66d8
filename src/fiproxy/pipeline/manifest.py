"""The run manifest: everything needed to cite and re-execute a run.

``manifest.json`` records the run id, git commit and dirty flag, package
versions, data files with sha256 and releases, parameters and seeds of every
notebook, timings and the run's status. It is written atomically at the start
(status ``running``), after every notebook, and at the end (``complete``,
``failed`` or ``interrupted``). A run killed without a chance to write
(SIGKILL) is found ``running`` with a dead process id and is marked
``interrupted`` by the next run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from fiproxy.pipeline.atomic import write_json
from fiproxy.pipeline.cache import REPO_DIR, code_fingerprint

__all__ = ["new_manifest", "write_manifest", "read_manifest", "mark_stale_runs", "PACKAGES"]

PACKAGES = ("fiproxy", "numpy", "pandas", "scipy", "statsmodels", "linearmodels", "matplotlib",
            "seaborn", "papermill", "jupytext", "ipykernel", "typst", "joblib", "dask")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", None
    return {"commit": commit or None, "dirty": dirty}


def package_versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def new_manifest(run_id: str, *, data: dict, seed: int, tasks: dict[str, dict], options: dict) -> dict:
    return {
        "run_id": run_id,
        "status": "running",
        "started": now(),
        "finished": None,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "git": git_state(),
        "code_sha256": code_fingerprint(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "data": data,
        "seed": seed,
        "options": options,
        "notebooks": tasks,
        "timings": {},
        "events": [],
    }


def write_manifest(run_dir: Path, manifest: dict) -> Path:
    return write_json(Path(run_dir) / "manifest.json", manifest)


def read_manifest(run_dir: Path) -> dict:
    p = Path(run_dir) / "manifest.json"
    if not p.is_file():
        raise FileNotFoundError(f"no manifest.json in {run_dir}")
    return json.loads(p.read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def mark_stale_runs(runs_dir: Path) -> list[str]:
    """Mark runs left ``running`` by a dead process (e.g. SIGKILL) as ``interrupted``."""
    marked = []
    for m in Path(runs_dir).glob("*/manifest.json"):
        try:
            man = json.loads(m.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if man.get("status") == "running" and man.get("host") == socket.gethostname() and not _alive(man.get("pid", -1)):
            man["status"] = "interrupted"
            man["events"].append({"time": now(), "event": "found running with a dead process; marked interrupted"})
            write_manifest(m.parent, man)
            marked.append(man["run_id"])
    return marked
