"""Helpers shared by the benchmarks: where the real data live and how a call is timed.

Every timing warms the function up once (imports, JIT compilation, caches) and then
repeats it; a benchmark reports either the median (typical cost) or the minimum
(least disturbed by the other processes on a shared machine) of the repeats.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real-data folder: ``$FIPROXY_SHARED_DATA`` or ``../shared/data`` beside the repository."""
    return Path(os.environ.get("FIPROXY_SHARED_DATA", REPO.parent / "shared" / "data"))


def read_shared_csv(*parts: str) -> pd.DataFrame:
    """Read ``<shared data>/<parts...>``; exit with a message naming the path when it is absent."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        raise SystemExit(f"{path} not found (set FIPROXY_SHARED_DATA to the real-data folder)")
    return pd.read_csv(path)


def repeat_timings(fn: Callable[..., Any], repeat: int, *args: Any) -> tuple[list[float], Any]:
    """Wall-clock seconds of ``repeat`` calls ``fn(*args)`` after one warm-up call, and the last value."""
    fn(*args)
    times, val = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        val = fn(*args)
        times.append(time.perf_counter() - t0)
    return times, val


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds of ``repeat`` warmed-up calls of ``fn()``."""
    return float(statistics.median(repeat_timings(fn, repeat)[0]))


def best_time(fn: Callable[..., Any], *args: Any, repeat: int) -> tuple[float, Any]:
    """Minimum seconds of ``repeat`` warmed-up calls of ``fn(*args)``, and the last value returned."""
    times, val = repeat_timings(fn, repeat, *args)
    return min(times), val


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of one call of ``fn()`` (no warm-up), and its value."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out
