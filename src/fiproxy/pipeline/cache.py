"""Content-addressed cache of notebook results.

The key of a notebook execution is the sha256 of everything its outputs depend
on: the notebook text, the fiproxy source tree and committed metadata (catalog,
calibration, specs), the path and sha256 of every data file it reads, its
parameters and the versions of the numerical packages. A run with an unchanged key copies the cached outputs instead of
executing the notebook.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from fiproxy.pipeline.atomic import publish_dir, tmp_sibling

__all__ = ["code_fingerprint", "task_key", "Cache"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = PACKAGE_DIR.parents[1]


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the fiproxy sources and the committed metadata (data/, analyses/)."""
    h = hashlib.sha256()
    roots = [PACKAGE_DIR, REPO_DIR / "data", REPO_DIR / "analyses"]
    for root in roots:
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in {".py", ".yaml", ".yml", ".json", ".csv", ".typ"} and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(root.parent)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def task_key(notebook: Path, params: dict[str, Any], data_hashes: dict[str, str]) -> str:
    h = hashlib.sha256()
    h.update(Path(notebook).read_bytes())
    h.update(code_fingerprint().encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(json.dumps(sorted(data_hashes.items())).encode())
    h.update(json.dumps(_versions(), sort_keys=True).encode())  # a library upgrade invalidates results
    return h.hexdigest()


@lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    from fiproxy.pipeline.manifest import package_versions

    return package_versions()


class Cache:
    """A directory of finished notebook results, one sub-directory per key."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> Path | None:
        p = self.path(key)
        return p if (p / "COMPLETE").is_file() else None

    def put(self, key: str, source: Path) -> Path:
        """Copy a finished result directory into the cache (atomically)."""
        final = self.path(key)
        staging = tmp_sibling(final)
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, staging)
        (staging / "COMPLETE").write_text(key)
        try:
            publish_dir(staging, final)
        except OSError:  # another run published the same key first: identical content
            shutil.rmtree(staging, ignore_errors=True)
        return final

    def restore(self, key: str, dest: Path) -> Path:
        """Copy a cached result into a run directory (atomically)."""
        src = self.get(key)
        if src is None:
            raise KeyError(key)
        staging = tmp_sibling(dest)
        shutil.copytree(src, staging, ignore=shutil.ignore_patterns("COMPLETE"))
        return publish_dir(staging, dest)

    def __contains__(self, key: str) -> bool:  # pragma: no cover - convenience
        return self.get(key) is not None


