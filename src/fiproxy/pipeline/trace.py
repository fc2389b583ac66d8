"""Resolve a paper number's key to where it came from.

``trace(key)`` finds the run (the latest, or a given one) whose notebook
registered ``key`` and returns the value, the notebook and the cell that
computed it (index and source, matched by execution count in the executed
notebook), the notebook's parameters and analysis spec, the data files with
their sha256, the code fingerprint and git commit of the run.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from fiproxy.pipeline.cache import REPO_DIR
from fiproxy.pipeline.manifest import read_manifest

__all__ = ["trace", "TraceError"]


class TraceError(KeyError):
    """No run holds the requested key."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


def _runs(runs_dir: Path, run_id: str | None) -> list[Path]:
    if run_id:
        p = runs_dir / run_id
        if not (p / "manifest.json").is_file():
            raise TraceError(f"no run {run_id!r} in {runs_dir}")
        return [p]
    runs = [p.parent for p in runs_dir.glob("*/manifest.json") if not p.parent.is_symlink()]
    return sorted(runs, key=lambda p: (p / "manifest.json").stat().st_mtime, reverse=True)


def _cell(nb_path: Path, execution_count: int | None) -> dict:
    if execution_count is None or not nb_path.is_file():
        return {}
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for i, c in enumerate(nb["cells"]):
        if c.get("cell_type") == "code" and c.get("execution_count") == execution_count:
            src = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
            return {"cell_index": i, "execution_count": execution_count, "source": src}
    return {"execution_count": execution_count}


def trace(key: str, *, runs_dir: Path | str = REPO_DIR / "runs", run_id: str | None = None) -> dict:
    """Provenance of the number ``key`` (see module docstring)."""
    runs_dir = Path(runs_dir)
    seen: set[str] = set()
    for run in _runs(runs_dir, run_id):
        man = read_manifest(run)
        for res in sorted(run.glob("notebooks/*/results.json")):
            r = json.loads(res.read_text(encoding="utf-8"))
            seen.update(r["numbers"])
            if key not in r["numbers"]:
                continue
            stage = res.parent.name
            info = man["notebooks"].get(stage, {})
            return {
                "key": key,
                **r["numbers"][key],
                "run_id": man["run_id"],
                "run_dir": str(run),
                "run_status": man["status"],
                "stage": stage,
                "notebook": info.get("notebook"),
                "executed_notebook": str(res.parent / "notebook.ipynb"),
                "cell": _cell(res.parent / "notebook.ipynb", r["numbers"][key].get("cell")),
                "params": info.get("params", {}),
                "cache_key": info.get("key"),
                "spec": r.get("spec", {}),
                "data": {"label": man["data"].get("label"), "files": man["data"].get("files", {})},
                "git": man["git"],
                "code_sha256": man["code_sha256"],
            }
    close = difflib.get_close_matches(key, sorted(seen), n=5, cutoff=0.6)
    hint = f"; close keys: {', '.join(close)}" if close else ""
    raise TraceError(f"key {key!r} not found in {'run ' + run_id if run_id else 'any run under ' + str(runs_dir)}{hint}")
