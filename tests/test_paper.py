"""Paper draft from a mini pipeline: PDF pages render, HTML loads in Chromium with every table and figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import inspect_html, pdf_pages, screenshot
from fiproxy.pipeline.pipeline import run_pipeline
from fiproxy.report.paper import PaperError, _typ_inline, build_paper

MINI = Path(__file__).parent / "fixtures" / "minipipe" / "analyses" / "pipeline.yaml"


@pytest.fixture(scope="module")
def mini_paper(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    s = run_pipeline(runs_dir=runs, pipeline_file=MINI, progress=None)
    assert s.status == "complete"
    return s.run_dir, build_paper(s.run_dir)


def test_paper_files_and_simulated_banner(mini_paper):
    run_dir, out = mini_paper
    html = out["html"].read_text(encoding="utf-8")
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"
    assert "SIMULATED DATA" in html and "simulated: true" in out["typ"].read_text()
    assert 'data-key="first_section.beta"' in html  # every number carries its trace key
    assert "{{" not in html and "{{" not in out["typ"].read_text()


def test_pdf_pages_render(mini_paper, tmp_path):
    _, out = mini_paper
    pages = pdf_pages(out["pdf"], tmp_path)
    assert len(pages) >= 4  # title, contents, sections, appendix
    assert all(p.stat().st_size > 1000 for p in pages)


def test_html_in_headless_chromium(mini_paper, tmp_path):
    run_dir, out = mini_paper
    seen = inspect_html(out["html"])
    assert seen == {"images": 2, "broken": [], "tables": 2}
    screenshot(out["html"], tmp_path / "paper.png")


def test_paper_refuses_incomplete_run(tmp_path):
    s = run_pipeline(runs_dir=tmp_path, pipeline_file=MINI, only=["first"], progress=None)
    import json

    man = json.loads((s.run_dir / "manifest.json").read_text())
    man["notebooks"]["first"]["status"] = "failed"
    (s.run_dir / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(PaperError, match="did not finish"):
        build_paper(s.run_dir)


def test_typst_markup_is_escaped():
    assert _typ_inline("p < 0.10 and #x $y @z", {}) == r"p \< 0.10 and \#x \$y \@z"


def test_text_columns_are_left_aligned_and_numbers_right():
    from fiproxy.report.paper import _numeric_columns

    item = {"columns": ["est", "se", "unit", "ci", "p"],
            "cells": [["0.123***", "(0.050)", "index points", "[0.101, 0.250]", "p = 0.003"],
                      ["-1.5", "", "yuan", "[-0.3, 0.4]", "0.5"]]}
    assert _numeric_columns(item) == [True, True, False, True, False]


def test_backslash_escapes_literal_stars():
    from fiproxy.report.paper import _html_inline

    note = r"\* p < 0.10, \*\* p < 0.05"
    assert _typ_inline(note, {}) == r"\* p \< 0.10, \*\* p \< 0.05"
    assert _html_inline(note, {}) == "* p &lt; 0.10, ** p &lt; 0.05"
