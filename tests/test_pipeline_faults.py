"""Runs that survive faults: SIGINT and SIGKILL mid-run, two runs at once, reruns reuse finished work."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MINI = Path(__file__).parent / "fixtures" / "minipipe" / "analyses" / "pipeline.yaml"


def _start(runs: Path, *params: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "fiproxy.cli", "run", "--pipeline", str(MINI), "--runs-dir", str(runs)]
    for p in params:
        cmd += ["--param", p]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _manifest(runs: Path) -> tuple[Path, dict]:
    found = [p for p in runs.glob("*/manifest.json") if not p.parent.is_symlink()]
    assert len(found) == 1, found
    return found[0].parent, json.loads(found[0].read_text())


def _wait_first_done(runs: Path, proc: subprocess.Popen, limit: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < limit:
        assert proc.poll() is None, proc.communicate()
        try:
            _, man = _manifest(runs)
            if man["notebooks"]["first"]["status"] == "executed":
                return
        except (AssertionError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError("the first notebook did not finish in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_is_recorded_and_rerun_reuses_finished_notebooks(tmp_path, sig):
    runs = tmp_path / "runs"
    proc = _start(runs, "second.sleep=120")
    _wait_first_done(runs, proc)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    run_dir, man = _manifest(runs)
    assert man["notebooks"]["first"]["status"] == "executed"
    assert man["notebooks"]["second"]["status"] == "pending"
    assert not (run_dir / "notebooks" / "second").exists(), "an unfinished notebook must never look done"
    assert not (run_dir / "notebooks" / "second" / "results.json").exists()
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert man["status"] == "interrupted" and man["events"][-1]["event"] == "interrupted by signal"
    else:
        assert man["status"] == "running"  # SIGKILL leaves no chance to write

    again = _start(runs, "second.sleep=0")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    old = json.loads((run_dir / "manifest.json").read_text())
    assert old["status"] == "interrupted", "the killed run is marked interrupted by the next run"
    new_dir = [p.parent for p in runs.glob("*/manifest.json") if p.parent != run_dir and not p.parent.is_symlink()][0]
    new = json.loads((new_dir / "manifest.json").read_text())
    assert new["notebooks"]["first"]["status"] == "cached", (old["code_sha256"], new["code_sha256"], old["notebooks"]["first"]["key"], new["notebooks"]["first"]["key"])
    assert new["notebooks"]["second"]["status"] == "executed"
    if sig == signal.SIGKILL:
        assert any("interrupted runs found" in e["event"] for e in new["events"])


def test_two_runs_at_once_do_not_clobber_each_other(tmp_path):
    runs = tmp_path / "runs"
    a = _start(runs, "second.scale=5.0")
    b = _start(runs, "second.scale=7.0")
    (_, ea), (_, eb) = a.communicate(timeout=300), b.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, (ea, eb)
    dirs = [p.parent for p in runs.glob("*/manifest.json") if not p.parent.is_symlink()]
    assert len(dirs) == 2
    values = {}
    for d in dirs:
        man = json.loads((d / "manifest.json").read_text())
        assert man["status"] == "complete"
        scale = man["notebooks"]["second"]["params"]["scale"]
        values[scale] = json.loads((d / "notebooks/second/results.json").read_text())["numbers"]["second_section.beta"]["value"]
        first = json.loads((d / "notebooks/first/results.json").read_text())["numbers"]["first_section.beta"]["value"]
        values.setdefault("first", set()).add(first)
    assert values[7.0] == pytest.approx(values[5.0] * 7 / 5, rel=1e-12)
    assert len(values["first"]) == 1
    cache_entries = list((runs / ".cache").glob("*/*/COMPLETE"))
    assert len(cache_entries) == 3  # first (shared key) + two different seconds
    assert not list((runs / ".cache").glob("*/.*tmp*")), "no temporary cache entries left behind"
