"""End to end: the README's main job on the SIMULATED default and on real data.

One run of the whole pipeline (every stage of analyses/pipeline.yaml) is shared by the tests of
this module: the paper exists as PDF and HTML, every table and figure shows in headless Chromium,
a second run is served from the cache, one changed parameter re-executes only its stage, and an
unknown parameter fails before any notebook starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from browser import inspect_html, pdf_pages, screenshot
from fiproxy.pipeline.params import ParameterError
from fiproxy.pipeline.pipeline import load_stages, run_pipeline

REPO = Path(__file__).resolve().parents[1]


def _paper(runs: Path, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "fiproxy.cli", "paper", "--runs-dir", str(runs), *args],
                       capture_output=True, text=True, timeout=1200, cwd=REPO)
    return p, time.perf_counter() - t0


def _latest(runs: Path) -> tuple[Path, dict]:
    d = (runs / "latest").resolve()
    return d, json.loads((d / "manifest.json").read_text())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    p, secs = _paper(runs)
    assert p.returncode == 0, p.stdout + p.stderr
    run_dir, man = _latest(runs)
    return runs, run_dir, man, secs


def test_paper_from_the_default_panel(default_run, tmp_path):
    runs, run_dir, man, secs = default_run
    assert man["status"] == "complete" and man["data"]["source"] == "simulated"
    assert set(man["notebooks"]) == {s.name for s in load_stages()}
    pdf, html = run_dir / "paper.pdf", run_dir / "paper.html"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = html.read_text(encoding="utf-8")
    assert "SIMULATED DATA" in text and "true effect" in text
    n_tables = sum(sum(i["kind"] == "table" for i in json.loads(r.read_text())["items"])
                   for r in run_dir.glob("notebooks/*/results.json"))
    n_figures = sum(sum(i["kind"] == "figure" for i in json.loads(r.read_text())["items"])
                    for r in run_dir.glob("notebooks/*/results.json"))
    assert n_tables >= 15 and n_figures >= 10
    seen = inspect_html(html)
    assert seen == {"images": n_figures, "broken": [], "tables": n_tables}
    screenshot(html, tmp_path / "paper.png")
    pages = pdf_pages(pdf, tmp_path)
    assert len(pages) >= 12


def test_every_number_traces_to_its_cell(default_run):
    runs, run_dir, man, _ = default_run
    r = json.loads((run_dir / "notebooks/h1_cost_access/results.json").read_text())
    key = "h1_cost_access_twfe.Two_way_FE.ln_dfi_index.estimate"
    assert r["numbers"][key]["truth"] == pytest.approx(0.3)
    p = subprocess.run([sys.executable, "-m", "fiproxy.cli", "trace", key, "--runs-dir", str(runs)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "twfe_section(out, S, panel.data" in p.stdout and man["run_id"] in p.stdout


def test_second_run_is_served_from_the_cache(default_run):
    runs, _, _, first = default_run
    p, secs = _paper(runs)
    assert p.returncode == 0, p.stderr
    _, man = _latest(runs)
    assert {v["status"] for v in man["notebooks"].values()} == {"cached"}
    run_secs = man["timings"]["total_seconds"]
    assert run_secs < 0.1 * first, (run_secs, first)


def test_one_changed_parameter_reruns_only_its_stage(default_run):
    runs, *_ = default_run
    s = run_pipeline(runs_dir=runs, overrides={"h4_sme_credit.boot_draws": 999}, progress=None)
    assert s.status == "complete"
    status = {n: o.status for n, o in s.outcomes.items()}
    assert status.pop("h4_sme_credit") == "executed"
    assert set(status.values()) == {"cached"}


def test_unknown_parameter_fails_before_any_notebook(default_run):
    runs, *_ = default_run
    before = set(runs.glob("*/manifest.json"))
    p = subprocess.run([sys.executable, "-m", "fiproxy.cli", "run", "--runs-dir", str(runs), "--param", "boot_drawz=9"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "unknown parameter(s) ['boot_drawz']" in p.stderr and "boot_draws" in p.stderr
    assert set(runs.glob("*/manifest.json")) == before
    with pytest.raises(ParameterError, match="must be int"):
        run_pipeline(runs_dir=runs, overrides={"h1_cost_access.boot_draws": "many"}, progress=None)


@pytest.mark.realdata
def test_real_data_paper_uses_the_pku_panel(shared_data, tmp_path):
    runs = tmp_path / "runs"
    p, _ = _paper(runs, "--data", str(shared_data))
    assert p.returncode == 0, p.stdout + p.stderr
    run_dir, man = _latest(runs)
    assert man["data"]["source"] == str(shared_data.resolve())
    pku = [f for f in man["data"]["files"] if "pku_dfiic" in f]
    assert pku and all(len(man["data"]["files"][f]) == 64 for f in pku)
    h1 = json.loads((run_dir / "notebooks/h1_cost_access/results.json").read_text())
    assert h1["data"]["simulated"] is False and any("pku_dfiic" in f for f in h1["data"]["files"])
    assert all(v["truth"] is None for v in h1["numbers"].values())
    html = (run_dir / "paper.html").read_text(encoding="utf-8")
    assert "SIMULATED DATA" not in html
    assert "is missing in this panel" in html  # H2: NPL ratios are user-supplied on real data
