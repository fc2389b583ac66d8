"""Panel assembly on small hand-made source tables: merge, derivations, provenance, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fiproxy.data import build_panel
from fiproxy.data.sources.base import ColumnMeta, SourceTable
from fiproxy.data.transforms import apply_transform, default_name


def table(name, frame, release="r1", files=None):
    cols = {c: ColumnMeta(name=c, unit="u", source=f"{name} file", release=release) for c in frame if c not in ("prov_code", "year")}
    data = frame.astype({"prov_code": "int64", "year": "int64", **{c: "float64" for c in cols}})
    return SourceTable(name=name, data=data, columns=cols, files=files or {f"/x/{name}.csv": "ab" * 32}, release=release)


@pytest.fixture
def credit():
    # Beijing 2010-2013, Shanghai 2011-2012 only
    return table("credit", pd.DataFrame({"prov_code": [11, 11, 11, 11, 31, 31], "year": [2010, 2011, 2012, 2013, 2011, 2012],
                                         "loans": [10.0, 20.0, 30.0, 40.0, 5.0, 6.0]}), release="credit-2024")


@pytest.fixture
def gdp():
    return table("gdp", pd.DataFrame({"prov_code": [11, 11, 11, 31, 31, 31], "year": [2011, 2012, 2013, 2011, 2012, 2013],
                                      "gdp": [100.0, 120.0, 0.0, 50.0, 60.0, 70.0],
                                      "population": [2.0, 2.0, 2.0, 2.5, 2.5, 2.5]}), release="nbs-first")


def test_merge_derive_and_provenance(credit, gdp):
    p = build_panel([credit, gdp], years=(2011, 2013), derive=["lag(loans)", "growth(loans)", {"loans_pc": "per_capita(loans)"}])
    d = p.data.set_index(["prov_code", "year"])
    assert len(p.data) == 31 * 3 and not p.simulated
    assert d.loc[(11, 2012), "loans_gdp"] == pytest.approx(30 / 120, rel=1e-15)
    assert np.isnan(d.loc[(11, 2013), "loans_gdp"])  # division by a zero GDP is undefined, not infinite
    assert d.loc[(11, 2011), "loans_lag1"] == 10.0  # the lag reaches 2010, outside the returned years
    assert d.loc[(11, 2011), "loans_growth"] == pytest.approx(1.0)
    assert np.isnan(d.loc[(31, 2011), "loans_lag1"])
    assert d.loc[(31, 2012), "loans_pc"] == pytest.approx(6 / 2.5)
    assert d.loc[(11, 2011), "dist_hangzhou"] == pytest.approx(1124, abs=30)
    assert d.loc[(11, 2013), "iv_dist_trend"] == pytest.approx(2 * d.loc[(11, 2013), "dist_hangzhou"])
    m = p.meta["loans_gdp"]
    assert (m.transformation, m.concept, m.unit) == ("ratio_to_gdp(loans)", "access", "ratio")
    assert "loans: credit-2024" in m.release and "gdp: nbs-first" in m.release
    assert p.meta["loans"].release == "credit-2024" and p.meta["loans"].source.startswith("credit:")
    assert p.meta["loans_lag1"].transformation == "lag(loans)"
    assert set(p.files) >= {"/x/credit.csv", "/x/gdp.csv"} and any(k.endswith("provinces.csv") for k in p.files)
    assert all(p.meta[c].source and p.meta[c].transformation for c in p.variables)


def test_gaps_are_reported_with_reasons_never_filled(credit, gdp):
    p = build_panel([credit, gdp], years=(2011, 2013))
    g = p.gaps.set_index(["variable", "prov_code", "year"])["reason"]
    assert g[("loans", 31, 2013)] == "missing in credit"
    assert g[("loans", 12, 2011)] == "missing in credit"
    short = build_panel([credit, gdp], years=(2011, 2014)).gaps.set_index(["variable", "prov_code", "year"])["reason"]
    assert short[("loans", 11, 2014)] == "outside the years of credit (2010-2013)"
    assert "input loans missing" in g[("loans_gdp", 31, 2013)]
    assert "undefined" in g[("loans_gdp", 11, 2013)]
    assert "user-supplied" in g[("npl_ratio", 11, 2011)] and "never fills" in g[("npl_ratio", 11, 2011)]
    assert "no source table supplied" in g[("dfi_index", 11, 2011)]
    assert len(p.gaps) == int(p.data[p.variables].isna().sum().sum())
    summary = p.gap_summary()
    assert summary.loc["npl_ratio", "missing"] == len(p.data)


def test_deflator_adds_real_values(credit, gdp):
    price = pd.Series([100.0, 110.0, 121.0], index=pd.Index([2011, 2012, 2013], name="year"))
    p = build_panel([credit, gdp], years=(2011, 2013), deflator=price)
    d = p.data.set_index(["prov_code", "year"])
    assert d.loc[(11, 2012), "loans_real"] == pytest.approx(30 / 1.1)
    assert d.loc[(31, 2012), "gdp_real"] == pytest.approx(60 / 1.1)
    assert p.meta["gdp_real"].transformation == "deflate(gdp)"
    assert "price_index" not in p.data.columns
    with pytest.raises(ValueError, match="price index must be positive"):
        build_panel([credit, gdp], deflator=price * 0)


def test_balanced_drops_incomplete_provinces(credit, gdp):
    p = build_panel([credit, gdp], years=(2011, 2012), balanced=["loans", "gdp"])
    assert sorted(p.data["prov_code"].unique()) == [11, 31]
    assert any("dropped provinces" in n for n in p.notes)
    with pytest.raises(ValueError, match="balanced panel is empty"):
        build_panel([credit, gdp], years=(2011, 2013), balanced=["loans", "dfi_index"])


def test_bad_calls(credit, gdp):
    with pytest.raises(ValueError, match="comes from two sources"):
        build_panel([credit, table("credit2", credit.data.copy())])
    with pytest.raises(ValueError, match="needs sources or data_dir"):
        build_panel()
    with pytest.raises(ValueError, match="first year is after the last"):
        build_panel([credit], years=(2013, 2011))
    with pytest.raises(ValueError, match="unknown transformation 'lagg'"):
        build_panel([credit, gdp], derive=["lagg(loans)"])
    with pytest.raises(ValueError, match="already exists"):
        build_panel([credit, gdp], derive=[{"loans_gdp": "log(loans)"}])


def test_uncataloged_column_kept_and_noted(gdp):
    extra = table("mine", pd.DataFrame({"prov_code": [11], "year": [2011], "my_index": [3.0]}))
    p = build_panel([gdp, extra], years=(2011, 2011))
    assert p.meta["my_index"].concept is None
    assert any("not in the variable catalog" in n for n in p.notes)


def test_transforms_on_a_frame_with_a_missing_year():
    f = pd.DataFrame({"prov_code": [11, 11, 11], "year": [2011, 2012, 2014], "x": [1.0, -2.0, 4.0]})
    lag = apply_transform(f, "lag", ("x",))
    assert lag.tolist()[1] == 1.0 and np.isnan(lag.tolist()[2])  # 2013 absent: no value from 2012
    assert np.isnan(apply_transform(f, "log", ("x",)).iloc[1])
    assert apply_transform(f, "lead", ("x", 1)).iloc[0] == -2.0
    assert apply_transform(f, "scale", ("x", 0.5)).tolist() == [0.5, -1.0, 2.0]
    assert default_name("lag", ("x", 2)) == "x_lag2" and default_name("log", ("x",)) == "ln_x"
    with pytest.raises(KeyError, match="needs column 'population'"):
        apply_transform(f, "per_capita", ("x",))
    with pytest.raises(ValueError, match="takes 2 argument"):
        apply_transform(f, "scale", ("x",))
    for k in (1.5, 0, -1):  # 1.5 was truncated to a one-year lag named x_lag1
        with pytest.raises(ValueError, match="whole number >= 1"):
            apply_transform(f, "lag", ("x", k))
        with pytest.raises(ValueError, match="whole number >= 1"):
            default_name("lead", ("x", k))
    assert apply_transform(f, "lag", ("x", 2.0)).tolist()[2] == -2.0
