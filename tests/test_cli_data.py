"""`fiproxy data`: SIMULATED summary by default, real panel with --data-dir, files with provenance."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fiproxy.cli import build_parser, main


def test_default_prints_simulated_summary(capsys):
    assert main(["data", "--summary"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("SIMULATED panel")
    assert "31 provinces x 2011-2023 (403 rows)" in out and "true effects (SIMULATED)" in out


def test_out_writes_csv_and_metadata(tmp_path, capsys):
    out = tmp_path / "panel.csv"
    assert main(["data", "--seed", "5", "--years", "2012", "2022", "--out", str(out), "--validate"]) == 0
    df = pd.read_csv(out)
    assert df.shape[0] == 31 * 11 and df["year"].min() == 2012
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["simulated"] is True and meta["label"].startswith("SIMULATED")
    assert meta["truth"]["seed"] == 5 and meta["columns"]["loans_gdp"]["transformation"] == "ratio_to_gdp(loans)"
    assert "(SIMULATED)" in capsys.readouterr().out


def test_bad_input_exit_code_2(tmp_path, capsys):
    assert main(["data", "--data-dir", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["data", "--data-dir", str(tmp_path), "--seed", "1"]) == 2
    assert "--seed applies to the simulated panel only" in capsys.readouterr().err


def test_pipeline_commands_registered():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"data", "run", "paper", "trace", "verify"} <= set(sub.choices)


@pytest.mark.realdata
def test_real_data_dir_prints_real_summary(shared_data, capsys):
    assert main(["data", "--data-dir", str(shared_data), "--validate"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("Panel: real province panel") and "SIMULATED" not in out
    assert "31 provinces x 2011-2021 (341 rows)" in out
    assert "npl_ratio: 341/341 — no shipped source" in out
