"""The real province panel from ../shared/data: balanced core, published values, provenance."""

from __future__ import annotations

import numpy as np
import pytest

from fiproxy.data import build_panel, load_catalog, validate_panel

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real(shared_data):
    return build_panel(data_dir=shared_data, years=(2011, 2021))


def test_core_variables_balanced_31_by_11(real):
    core = load_catalog().core()
    d = real.data
    assert d["prov_code"].nunique() == 31 and sorted(d["year"].unique()) == list(range(2011, 2022))
    assert len(d) == 341 and not d.duplicated(["prov_code", "year"]).any()
    assert d[core].notna().all().all(), d[core].isna().sum()[lambda s: s > 0]
    assert not real.gaps["variable"].isin(core).any()


def test_values_quoted_in_source_md(real):
    d = real.data.set_index(["prov_code", "year"])
    # PKU-DFIIC (pku_dfiic SOURCE.md): Shanghai 2011 80.19 and 2020 431.93, Beijing 2011 79.41
    assert d.loc[(31, 2020), "dfi_index"] == pytest.approx(431.93, abs=0.005)
    assert d.loc[(31, 2011), "dfi_index"] == pytest.approx(80.19, abs=0.005)
    assert d.loc[(11, 2011), "dfi_index"] == pytest.approx(79.41, abs=0.005)
    by_year = d["dfi_index"].groupby(level="year")
    assert by_year.min()[2011] == pytest.approx(16.22, abs=0.005) and by_year.mean()[2011] == pytest.approx(40.0, abs=0.05)
    assert by_year.mean()[2020] == pytest.approx(341.2, abs=0.05) and by_year.min()[2020] == pytest.approx(298.2, abs=0.05)
    # GDP first release (cn_prov_gdp SOURCE.md): Beijing 2020 36,102.55, 2021 40,269.55 (100 million yuan)
    assert d.loc[(11, 2020), "gdp"] == pytest.approx(36102.55, abs=1e-6)
    assert d.loc[(11, 2021), "gdp"] == pytest.approx(40269.55, abs=1e-6)
    # deposits / loans (cn_prov_deposits_loans SOURCE.md)
    assert d.loc[(11, 2011), "deposits"] == pytest.approx(75001.9, abs=0.05)
    assert d.loc[(11, 2011), "loans"] == pytest.approx(39660.5, abs=0.05)
    assert d.loc[(44, 2020), "loans"] == pytest.approx(195681, abs=0.5)
    assert d.loc[(54, 2020), "loans"] == pytest.approx(4956.9, abs=0.05)
    assert d.loc[(11, 2020), "loans_gdp"] == pytest.approx(d.loc[(11, 2020), "loans"] / 36102.55, rel=1e-14)
    # bank outlets (Beijing 2011 = 1.82 per 10,000) and urbanization 2020 range, population 2020 total
    assert d.loc[(11, 2011), "bank_outlets_pc"] == pytest.approx(1.82, abs=0.005)
    urb = d["urbanization"].xs(2020, level="year")
    assert urb.min() == pytest.approx(0.357, abs=5e-4) and urb.idxmin() == 54
    assert urb.max() == pytest.approx(0.893, abs=5e-4) and urb.idxmax() == 31
    assert d["population"].xs(2020, level="year").sum() == pytest.approx(141012, abs=1)
    assert d.loc[(11, 2020), "ln_gdp_pc"] == pytest.approx(np.log(d.loc[(11, 2020), "gdp_pc"]), rel=1e-15)


def test_npl_and_other_unshipped_series_reported_missing(real):
    for var in ("npl_ratio", "fintech_credit_share", "old_age_share", "pilot"):
        assert real.data[var].isna().all()
        reasons = real.gaps.loc[real.gaps["variable"] == var, "reason"]
        assert len(reasons) == 341 and reasons.str.contains("no shipped source").all()
    assert "never fills" in real.gap_summary().loc["npl_ratio", "reasons"]
    assert real.gaps.loc[real.gaps["variable"] == "ln_npl_ratio", "reason"].eq(
        "cannot derive log(npl_ratio): no data for npl_ratio").all()
    # digital infrastructure starts in 2013: 2011-2012 are gaps with the reason, not filled
    miss = real.gaps[(real.gaps["variable"] == "mobile_internet_users")]
    assert sorted(miss["year"].unique()) == [2011, 2012]
    assert miss["reason"].str.startswith("outside the years of cn_prov_digital_infra (2013-2022)").all()


def test_every_column_has_provenance_and_files_are_hashed(real, shared_data):
    for col in real.variables:
        m = real.meta[col]
        assert m.source and m.unit and m.transformation, col
        if real.data[col].notna().any():
            assert m.release, col
        else:
            assert m.release == "" and col in set(real.gaps["variable"])
    assert "2011-2023" in real.meta["dfi_index"].release
    assert real.meta["fiscal_gdp"].transformation == "ratio_to_gdp(budget_expenditure)"
    from fiproxy.data.sources.base import sha256_file

    pku = str((shared_data / "pku_dfiic" / "pku_dfiic_province_2011_2023.csv").resolve())
    assert real.files[pku] == sha256_file(pku)
    assert len(real.files) == 9 and all(len(h) == 64 for h in real.files.values())
    assert not real.simulated and real.label.startswith("real province panel")
    assert validate_panel(real).ok
    assert real.summary().splitlines()[0].startswith("Panel: real province panel")


def test_user_supplied_npl_fills_the_gap(shared_data, tmp_path):
    from fiproxy.data.sources.tidy import load_tidy_csv

    csv = tmp_path / "npl.csv"
    csv.write_text("prov_code,year,npl\n11,2020,0.012\n31,2020,0.009\n")
    npl = load_tidy_csv(csv, mapping={"npl": "npl_ratio"}, release="my bank survey 2024", name="npl")
    p = build_panel([npl], data_dir=shared_data, years=(2020, 2020))
    d = p.data.set_index("prov_code")
    assert d.loc[11, "npl_ratio"] == 0.012 and d.loc[31, "ln_npl_ratio"] == pytest.approx(np.log(0.009))
    assert p.meta["npl_ratio"].release == "my bank survey 2024"
    assert (p.gaps["variable"] == "npl_ratio").sum() == 29
    assert p.gaps.loc[p.gaps["variable"] == "npl_ratio", "reason"].eq("missing in npl").all()


@pytest.mark.slow
def test_calibration_file_reproduced_by_the_script(shared_data):
    """scripts/calibrate.py on ../shared/data gives the committed data/calibration.json statistics."""
    import json
    import runpy
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    calibrate = runpy.run_path(str(repo / "scripts" / "calibrate.py"))["calibrate"]
    fresh = json.loads(json.dumps(calibrate(shared_data)))
    committed = json.loads((repo / "data" / "calibration.json").read_text())
    assert fresh["variables"] == committed["variables"]
    assert fresh["between_corr"] == committed["between_corr"]
    assert fresh["first_stage"]["slope"] == pytest.approx(committed["first_stage"]["slope"], rel=1e-9)
