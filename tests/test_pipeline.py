"""Runner, parameter validation, cache, manifest and trace on a two-stage mini pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fiproxy.pipeline.cache import Cache
from fiproxy.pipeline.params import ParameterError, declared_parameters, validate_parameters
from fiproxy.pipeline.pipeline import plan, run_pipeline
from fiproxy.pipeline.runner import NotebookTask, run_notebooks
from fiproxy.pipeline.trace import TraceError, trace

FIX = Path(__file__).parent / "fixtures"
TINY = FIX / "notebooks" / "tiny.py"
MINI = FIX / "minipipe" / "analyses" / "pipeline.yaml"


def test_declared_parameters_reads_defaults_types_and_comments():
    p = declared_parameters(TINY)
    assert list(p) == ["output_dir", "x", "label", "sleep", "fail"]
    assert p["x"].default == 1 and p["x"].type is int and p["x"].comment == "a number"
    assert p["sleep"].type is float and p["fail"].type is bool


@pytest.mark.parametrize("params, message", [
    ({"xx": 3}, "unknown parameter 'xx' — did you mean x"),
    ({"x": "3"}, "parameter 'x' must be int, got str"),
    ({"fail": 1}, "parameter 'fail' must be bool"),
    ({"x": True}, "parameter 'x' must be int"),
])
def test_validate_parameters_rejects_unknown_and_mistyped(params, message):
    with pytest.raises(ParameterError, match=message) as e:
        validate_parameters(TINY, params)
    assert "Valid parameters: output_dir (str), x (int)" in str(e.value)


def test_int_accepted_for_float_parameter():
    validate_parameters(TINY, {"sleep": 0})


def test_unknown_pipeline_parameter_fails_before_any_notebook(tmp_path):
    with pytest.raises(ParameterError, match=r"unknown parameter\(s\) \['scael'\]"):
        run_pipeline(runs_dir=tmp_path, pipeline_file=MINI, overrides={"scael": 3.0}, progress=None)
    assert not list(tmp_path.glob("*/manifest.json")), "no run directory may be created"
    with pytest.raises(ParameterError):
        plan(pipeline_file=MINI, overrides={"nosuchstage.scale": 1.0})


def test_failed_notebook_reports_cell_and_spares_independent_ones(tmp_path):
    tasks = [NotebookTask("ok", TINY, {"x": 3}), NotebookTask("bad", TINY, {"fail": True}),
             NotebookTask("after_bad", TINY, {}, ("bad",))]
    out = run_notebooks(tasks, tmp_path / "run", jobs=2)
    assert out["ok"].status == "executed"
    assert json.loads((tmp_path / "run/notebooks/ok/results.json").read_text()) == {"x2": 6, "label": "a"}
    assert out["bad"].status == "failed"
    assert out["bad"].error["ename"] == "RuntimeError" and out["bad"].error["evalue"] == "asked to fail"
    assert out["bad"].error["cell_index"] == 2  # parameters, injected parameters, failing cell
    assert out["after_bad"].status == "skipped"
    assert not (tmp_path / "run/notebooks/bad").exists(), "a failed notebook is never published as done"
    assert (tmp_path / "run/notebooks/bad.failed/notebook.ipynb").exists()


def test_hung_cell_is_stopped_at_timeout(tmp_path):
    out = run_notebooks([NotebookTask("slow", TINY, {"sleep": 30.0})], tmp_path / "run", timeout=3)
    assert out["slow"].status == "timeout"
    assert "timeout of 3 s" in out["slow"].error["evalue"]
    assert out["slow"].seconds < 25


def test_cycle_and_unknown_dependency_are_errors(tmp_path):
    with pytest.raises(ValueError, match="cycle"):
        run_notebooks([NotebookTask("a", TINY, {}, ("b",)), NotebookTask("b", TINY, {}, ("a",))], tmp_path)
    with pytest.raises(ValueError, match="unknown task"):
        run_notebooks([NotebookTask("a", TINY, {}, ("zzz",))], tmp_path)


def test_pipeline_cache_manifest_and_trace(tmp_path):
    first = run_pipeline(runs_dir=tmp_path, pipeline_file=MINI, progress=None)
    assert first.status == "complete"
    man = json.loads((first.run_dir / "manifest.json").read_text())
    assert man["status"] == "complete" and man["run_id"] == first.run_id
    assert set(man["notebooks"]) == {"first", "second"}
    assert all(v["status"] == "executed" for v in man["notebooks"].values())
    assert man["packages"]["numpy"] and man["git"]["commit"] and "total_seconds" in man["timings"]

    again = run_pipeline(runs_dir=tmp_path, pipeline_file=MINI, progress=None)
    assert [o.status for o in again.outcomes.values()] == ["cached", "cached"]
    assert again.seconds < 0.1 * first.seconds, (again.seconds, first.seconds)
    r1 = json.loads((first.run_dir / "notebooks/second/results.json").read_text())
    r2 = json.loads((again.run_dir / "notebooks/second/results.json").read_text())
    assert r1 == r2

    changed = run_pipeline(runs_dir=tmp_path, pipeline_file=MINI, overrides={"second.scale": 3.0}, progress=None)
    assert {n: o.status for n, o in changed.outcomes.items()} == {"first": "cached", "second": "executed"}

    t = trace("second_section.beta", runs_dir=tmp_path, run_id=changed.run_id)
    assert t["stage"] == "second" and t["params"]["scale"] == 3.0
    assert "out.number(key, b" in t["cell"]["source"]
    v1 = trace("second_section.beta", runs_dir=tmp_path, run_id=first.run_id)["value"]
    assert t["value"] == pytest.approx(1.5 * v1, rel=1e-12)  # scale 3.0 vs 2.0, same seed
    with pytest.raises(TraceError, match="close keys: second_section.beta"):
        trace("second_sectin.beta", runs_dir=tmp_path)


def test_cache_entry_is_complete_or_absent(tmp_path):
    c = Cache(tmp_path / "cache")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("x")
    assert c.get("ab" * 32) is None
    c.put("ab" * 32, src)
    assert (c.get("ab" * 32) / "a.txt").read_text() == "x"
    c.restore("ab" * 32, tmp_path / "dest")
    assert not (tmp_path / "dest" / "COMPLETE").exists()
