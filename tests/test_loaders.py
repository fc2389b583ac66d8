"""Source loaders: PKU-DFIIC, NBS exports, generic tidy tables — formats, bad input, real data."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook

from fiproxy.data.sources._parse import parse_year, read_text, split_unit, to_float
from fiproxy.data.sources.base import ColumnMeta, SourceFormatError, SourceTable, sha256_file
from fiproxy.data.sources.nbs import load_nbs
from fiproxy.data.sources.pku_dfiic import load_pku_dfiic
from fiproxy.data.sources.tidy import load_tidy_csv

NBS = Path(__file__).resolve().parent / "fixtures" / "nbs"


def _value(table: SourceTable, code: int, year: int, column: str) -> float:
    d = table.data
    hit = d.loc[(d.prov_code == code) & (d.year == year), column]
    assert len(hit) == 1, (code, year, column)
    return float(hit.iloc[0])


def _check_table(table: SourceTable) -> None:
    d = table.data
    assert d["prov_code"].dtype == np.int64 and d["year"].dtype == np.int64
    assert all(d[c].dtype == np.float64 for c in table.value_columns)
    assert set(table.columns) == set(table.value_columns)
    assert not d.duplicated(["city_code", "year"] if table.level == "city" else ["prov_code", "year"]).any()
    for path, digest in table.files.items():
        assert Path(path).is_absolute() and digest == sha256_file(path)


# ---------------------------------------------------------------------------------------------
# base and cell parsing
def test_sha256_file(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"fiproxy" * 1000)
    assert sha256_file(p) == hashlib.sha256(b"fiproxy" * 1000).hexdigest()


def test_source_table_validates_its_invariants():
    good = pd.DataFrame({"prov_code": np.array([11, 12], dtype="int64"), "year": np.array([2020, 2020], dtype="int64"),
                         "x": [1.0, 2.0]})
    meta = {"x": ColumnMeta("x", "yuan", "test", "r1")}
    SourceTable("t", good, meta, {}, "r1")
    with pytest.raises(ValueError, match="duplicate"):
        SourceTable("t", good.assign(prov_code=np.array([11, 11], dtype="int64")), meta, {}, "r1")
    with pytest.raises(ValueError, match="float64"):
        SourceTable("t", good.assign(x=[1, 2]), meta, {}, "r1")
    with pytest.raises(ValueError, match="int64"):
        SourceTable("t", good.assign(year=[2020.0, 2020.0]), meta, {}, "r1")
    with pytest.raises(ValueError, match="metadata"):
        SourceTable("t", good, {}, {}, "r1")


def test_source_format_error_message():
    err = SourceFormatError("/a/b.csv", "cell 'x' is not a number", row=7, column="gdp")
    assert str(err) == "/a/b.csv, row 7, column 'gdp': cell 'x' is not a number"
    assert isinstance(err, ValueError) and err.row == 7


@pytest.mark.parametrize("cell, year", [(2022, 2022), (2022.0, 2022), ("2022", 2022), ("2022年", 2022),
                                        ("２０２２年", 2022), (" 2022 年 ", 2022), ("2022年度", 2022), ("2022.0", 2022)])
def test_parse_year(cell, year):
    assert parse_year(cell) == year


@pytest.mark.parametrize("cell", ["22年", "2022-01", "year", "", None, "1800", "2022年1月"])
def test_parse_year_rejects(cell):
    assert parse_year(cell) is None


def test_split_unit():
    assert split_unit("地区生产总值(亿元)") == ("地区生产总值", "亿元")
    assert split_unit("地区生产总值（亿元）") == ("地区生产总值", "亿元")
    assert split_unit("GDP") == ("GDP", "")
    assert split_unit("GDP/亿元") == ("GDP", "亿元")
    assert split_unit("loans/GDP") == ("loans/GDP", "")


def test_to_float_placeholders_fullwidth_thousands():
    s = pd.Series(["1,234.5", "１２３．４", "—", "…", "-", "", "  7 ", "-3.5", "12 345", "−2", None], dtype=object)
    got = to_float(s, np.arange(2, 2 + len(s)), "f.csv", "v")
    expected = [1234.5, 123.4, np.nan, np.nan, np.nan, np.nan, 7.0, -3.5, 12345.0, -2.0, np.nan]
    np.testing.assert_array_equal(got, expected)


def test_to_float_bad_cell_names_row_and_column():
    s = pd.Series(["1", "2", "12a"], dtype=object)
    with pytest.raises(SourceFormatError, match=r"f\.csv, row 9, column 'v': cell '12a' is not a number"):
        to_float(s, [7, 8, 9], "f.csv", "v")


def test_read_text_encodings(tmp_path):
    text = "地区,2022年\n北京市,1\n"
    for enc, expect in [("utf-8", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")]:
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(text.encode(enc))
        got, used = read_text(p)
        assert got == text and used == expect
    p = tmp_path / "utf16.csv"
    p.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(SourceFormatError, match="utf16.csv"):
        read_text(p)
    p = tmp_path / "gbk.csv"
    p.write_bytes(text.encode("gbk"))
    with pytest.raises(SourceFormatError, match="cannot decode as utf-8"):
        read_text(p, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# NBS exports: fixtures (made-up values) in the portal / yearbook formats
def test_nbs_portal_wide_gbk():
    t = load_nbs(NBS / "portal_wide_gbk.csv", release="test")
    _check_table(t)
    assert t.name == "示例产值" and list(t.columns) == ["示例产值"]
    meta = t.columns["示例产值"]
    assert meta.unit == "亿元" and meta.source == "示例统计局" and meta.release == "test"
    assert sorted(t.data.prov_code.unique()) == [11, 12, 13, 15, 45]
    assert sorted(t.data.year.unique()) == [2020, 2021, 2022]
    assert _value(t, 11, 2022, "示例产值") == 1100.5  # "1,100.5"
    assert _value(t, 12, 2022, "示例产值") == 200.0  # full-width digits
    assert np.isnan(_value(t, 13, 2021, "示例产值"))  # …
    assert np.isnan(_value(t, 15, 2020, "示例产值"))  # —
    assert _value(t, 45, 2020, "示例产值") == 480.0
    assert any("gb18030" in n for n in t.notes) and any("footnotes" in n for n in t.notes)


def test_nbs_variable_and_unit_override():
    t = load_nbs(NBS / "portal_wide_gbk.csv", variable="output", unit="100m yuan", release="r", source="NBS")
    assert list(t.columns) == ["output"] and t.name == "output"
    assert t.columns["output"].unit == "100m yuan" and t.columns["output"].source == "NBS"
    assert t.columns["output"].description == "示例产值(亿元)"


def test_nbs_wide_utf8_bom_spaced_and_traditional_names():
    t = load_nbs(NBS / "wide_utf8_bom.csv", variable="v")
    _check_table(t)
    assert len(t.data) == 6  # the national row 全  国 is dropped
    assert _value(t, 11, 2019, "v") == 11.0 and _value(t, 44, 2020, "v") == 45.0 and _value(t, 65, 2020, "v") == 66.0
    assert any("全  国" in n for n in t.notes)


def test_nbs_long_indicator_layout():
    t = load_nbs(NBS / "long_indicator.csv")
    _check_table(t)
    assert list(t.columns) == ["示例甲", "示例乙"]
    assert t.columns["示例甲"].unit == "万人" and t.columns["示例乙"].unit == "%"
    assert _value(t, 31, 2022, "示例甲") == 11.0 and np.isnan(_value(t, 33, 2022, "示例甲"))
    assert _value(t, 33, 2021, "示例乙") == 2.5
    with pytest.raises(SourceFormatError, match="variable= names one column"):
        load_nbs(NBS / "long_indicator.csv", variable="x")


def test_nbs_yearbook_xlsx_cross_section_with_merged_title():
    t = load_nbs(NBS / "yearbook_cross_section.xlsx")
    _check_table(t)
    assert set(t.data.year) == {2022}  # year from the merged title cell
    assert sorted(t.data.prov_code) == [11, 31, 54]  # 全国 dropped
    assert _value(t, 11, 2022, "示例总量") == 10.0 and _value(t, 54, 2022, "示例总量") == 5.5
    assert _value(t, 11, 2022, "示例比率") == 1.25 and np.isnan(_value(t, 31, 2022, "示例比率"))
    assert t.columns["示例总量"].unit == "亿元"


def test_nbs_xlsx_wide_years_as_numbers(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["指标：示例(元)"])
    ws.append(["地区", 2021, "2022年"])
    ws.append(["湖南省", 1.5, 2.5])
    ws.append(["Hubei", 3, 4])
    p = tmp_path / "w.xlsx"
    wb.save(p)
    t = load_nbs(p)
    assert list(t.columns) == ["示例"] and t.columns["示例"].unit == "元"
    assert _value(t, 43, 2021, "示例") == 1.5 and _value(t, 42, 2022, "示例") == 4.0


def _write(tmp_path, text: str, name="bad.csv", encoding="utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("地区,2021年,2022年\n北京市,1,2\n天津市,3,4\n北京市,5,6\n", r"bad\.csv, row 4.*duplicate province row.*row 2"),
        ("指标：x\n地区,2021年\n北京市,1\n北就市,2\n", r"bad\.csv, row 4.*unknown province '北就市'.*closest matches"),
        ("地区,2021年\n北京市,1\n天津市,12a\n", r"bad\.csv, row 3, column 'value': cell '12a' is not a number"),
        ("地区,2021年,2021\n北京市,1,2\n", r"bad\.csv, row 1: year 2021 appears in two header columns"),
        ("地区,2021年\n北京市,1,9\n", r"bad\.csv, row 2: row has 3 cells but the header has 2"),
        ("地区,年分,数值\n北京市,2021,1\n", r"bad\.csv, row 1: no year"),
        ("foo,bar\n1,2\n", r"bad\.csv, row 1: expected a header row"),
        ("地区,2021年,备注\n北京市,1,x\n", r"bad\.csv, row 1: header cells \['备注'\] are neither years"),
        ("地区,2021年\n,1\n", r"bad\.csv, row 2.*empty province cell"),
        ("数据库：分省年度数据\n指标：x\n", r"bad\.csv: no header row"),
        ("地区,2021年\n注：只有脚注\n", r"bad\.csv, row 1: header row but no data rows"),
    ],
)
def test_nbs_bad_input_names_file_row_and_problem(tmp_path, text, pattern):
    with pytest.raises(SourceFormatError, match=pattern):
        load_nbs(_write(tmp_path, text))


def test_nbs_wrong_encoding_is_reported(tmp_path):
    big5 = _write(tmp_path, "地區,2021年\n北京市,1\n", name="big5.csv", encoding="big5")
    # Big5 bytes decode as GB18030 mojibake: the header is not recognised, and the error names the file
    with pytest.raises(SourceFormatError, match=r"big5\.csv"):
        load_nbs(big5)
    gbk = _write(tmp_path, "地区,2021年\n北京市,1\n", name="gbk.csv", encoding="gbk")
    with pytest.raises(SourceFormatError, match=r"gbk\.csv: cannot decode as utf-8"):
        load_nbs(gbk, encoding="utf-8")
    assert _value(load_nbs(gbk, encoding="gbk", variable="v"), 11, 2021, "v") == 1.0


def test_nbs_missing_file(tmp_path):
    with pytest.raises(SourceFormatError, match="file not found"):
        load_nbs(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# PKU-DFIIC: synthetic workbooks in the official layout (values made up)
PKU_EN = ["year", "prov_name", "prov_name_eng", "prov_code", "index_aggregate", "coverage_breadth", "usage_depth",
          "payment", "insurance", "monetary_fund", "investment", "credit", "credit_investigation", "digitization_level"]


PKU_ZH = ["年份", "省份", None, "省份代码", "总指数", "覆盖广度", "使用深度", "支付", "保险", "货币基金", "投资", "信贷",
          "信用", "数字化程度"]  # None: the English-name column of the English layout
PKU_ROWS = [
    [2011, "北京市", "Beijing", 11, 10.5, 11, 12, 13, 14, None, None, 15, None, 16],
    [2012, "北京市", "Beijing", 11, 20.5, 21, 22, 23, 24, 25, None, 26, None, 27],
    [2011, "西藏自治区", "Tibet", 54, 1.25, 2, 3, 4, 5, None, None, 6, None, 7],
]


def _pku_workbook(path: Path, chinese: bool = False) -> Path:
    """Workbook in the publisher's layout: province and city sheets (English or Chinese)."""
    wb = Workbook()
    ws = wb.active
    keep = [i for i, h in enumerate(PKU_ZH) if h is not None or not chinese]
    ws.title = "省级" if chinese else "Provinces"
    if chinese:
        ws.append(["北京大学数字普惠金融指数（示例）"])  # title row above the header
    ws.append([(PKU_ZH if chinese else PKU_EN)[i] for i in keep])
    if not chinese:  # the English header is followed by a row of Chinese labels
        ws.append([h or "省份名称英文" for h in PKU_ZH])
    for row in PKU_ROWS:
        ws.append([row[i] for i in keep])
    city = wb.create_sheet("城市" if chinese else "Prefecture_Level_Cities")
    city.append(["年份", "城市代码", "城市", "总指数"] if chinese else
                ["year", "pref_code_year18", "pref_name_year18", "index_aggregate", "pref_code_year14"])
    for row in ([2011, 3301, "杭州市", 50.0, 3301], [2011, 5406, "那曲市", 5.0, 5424]):
        city.append(row[:4] if chinese else row)
    wb.create_sheet("Counties").append(["year", "county_code", "index_aggregate"])
    wb.save(path)
    return path


@pytest.mark.parametrize("chinese", [False, True])
def test_pku_workbook_province_and_city_sheets(tmp_path, chinese):
    p = _pku_workbook(tmp_path / "pku.xlsx", chinese)
    t = load_pku_dfiic(p)
    _check_table(t)
    assert t.name == "pku_dfiic" and t.release == "2011-2023 (2024 release)" and t.level == "province"
    assert len(t.data) == 3
    assert _value(t, 11, 2011, "index_aggregate") == 10.5 and _value(t, 54, 2011, "index_aggregate") == 1.25
    assert _value(t, 11, 2012, "monetary_fund") == 25.0 and np.isnan(_value(t, 11, 2011, "monetary_fund"))
    assert _value(t, 11, 2012, "digitization_level") == 27.0
    assert t.columns["index_aggregate"].unit == "index points"
    c = load_pku_dfiic(p, level="city", release="test")
    _check_table(c)
    assert c.level == "city" and c.release == "test"
    assert c.data[["prov_code", "city_code", "year"]].values.tolist() == [[33, 3301, 2011], [54, 5406, 2011]]
    assert c.data["index_aggregate"].tolist() == [50.0, 5.0]


@pytest.mark.parametrize(
    "text, level, pattern",
    [
        ("year,prov_code,aggregate idx\n2011,11,1.0\n", "province",
         r"bad\.csv, row 1: no 'index_aggregate' column.*aggregate idx"),
        ("year,prov_code,index_aggregate\n2011,11,1.0\n2012,11,2\n2011,11,3\n", "province",
         r"bad\.csv, row 4: duplicate prov_code 11 in year 2011 \(also at row 2\)"),
        ("year,prov_code,prov_name,index_aggregate\n2011,11,北京市,1.0\n2011,12,河北省,2\n", "province",
         r"bad\.csv, row 3: province name '河北省' does not match code 12"),
        ("year,prov_code,index_aggregate\n2011,11,1.0\n2011,99,2\n", "province", r"bad\.csv, row 3, column 'prov_code'"),
        ("year,prov_code,index_aggregate\n2011年,11,1.0\n2012年,11,n/a?\n", "province",
         r"bad\.csv, row 3, column 'index_aggregate'"),
        ("year,city_code,index_aggregate\n2011,3301,1.0\n2011,9901,2\n", "city", r"bad\.csv, row 3.*prefix 99"),
    ],
)
def test_pku_bad_input(tmp_path, text, level, pattern):
    with pytest.raises(SourceFormatError, match=pattern):
        load_pku_dfiic(_write(tmp_path, text), level=level)


def test_pku_bad_sheet_and_level(tmp_path):
    wb = _pku_workbook(tmp_path / "nosheet.xlsx")
    with pytest.raises(SourceFormatError, match="no sheet 'Foo'"):
        load_pku_dfiic(wb, sheet="Foo")
    with pytest.raises(ValueError, match="level"):
        load_pku_dfiic(wb, level="county")


def test_pku_year_with_suffix_is_parsed(tmp_path):
    p = tmp_path / "y.csv"
    p.write_text("年份,省份,总指数\n2011年,上海,80.19\n２０１２年,上海市,150\n", encoding="utf-8")
    t = load_pku_dfiic(p)
    assert t.data.values.tolist() == [[31, 2011, 80.19], [31, 2012, 150.0]]


# ---------------------------------------------------------------------------------------------
# generic tidy tables (synthetic)
def test_tidy_mapping_names_codes_and_aggregates(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("省份,year,gdp,note\n中国,2020,100,x\n北京市,2020,\"1,000.5\",a\nTianjin,2020,—,b\n"
                 "广西壮族自治区,2021年,3,c\n", encoding="gb18030")
    meta = {"gdp_100m_yuan": ColumnMeta("gdp_100m_yuan", "亿元", "NBS", "r")}
    t = load_tidy_csv(p, mapping={"gdp": "gdp_100m_yuan"}, meta=meta, release="r", name="g")
    _check_table(t)
    assert t.name == "g" and t.columns["gdp_100m_yuan"].unit == "亿元"
    assert t.data.prov_code.tolist() == [11, 12, 45] and t.data.year.tolist() == [2020, 2020, 2021]
    assert _value(t, 11, 2020, "gdp_100m_yuan") == 1000.5 and np.isnan(_value(t, 12, 2020, "gdp_100m_yuan"))
    assert any("中国" in n for n in t.notes)
    with pytest.raises(SourceFormatError, match=r"t\.csv, row 2, column '省份'.*aggregate"):
        load_tidy_csv(p, mapping={"gdp": "g"}, aggregates="raise")
    with pytest.raises(SourceFormatError, match=r"t\.csv, row 1: no value column 'GDP'; did you mean \['gdp'\]"):
        load_tidy_csv(p, mapping={"GDP": "g"})
    with pytest.raises(SourceFormatError, match=r"no year column 'yr'"):
        load_tidy_csv(p, year_col="yr")


def test_tidy_without_mapping_keeps_numeric_columns_and_rejects_mixed(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("prov_code,prov_name_en,year,a,b\n11,Beijing,2020,1,—\n12,Tianjin,2020,2,3\n", encoding="utf-8")
    t = load_tidy_csv(p)
    assert list(t.columns) == ["a", "b"] and np.isnan(_value(t, 11, 2020, "b"))
    assert any("prov_name_en" in n for n in t.notes)
    p.write_text("prov_code,year,a\n11,2020,1\n12,2020,2 units\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"row 3, column 'a': cell '2 units'"):
        load_tidy_csv(p)
    p.write_text("prov_code,year,a\n11,2020,1\n11,2020,2\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"row 3: duplicate province–year: prov_code 11, year 2020 also at row 2"):
        load_tidy_csv(p)
    p.write_text("province,year,a\n北京,2020,1\n深圳市,2020,2\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"row 3, column 'province': unknown province '深圳市'"):
        load_tidy_csv(p)
    t = load_tidy_csv(p, unknown="drop")
    assert t.data.prov_code.tolist() == [11] and any("深圳市" in n for n in t.notes)


# ---------------------------------------------------------------------------------------------
# real data in ../shared/data
@pytest.mark.realdata
@pytest.mark.parametrize("fname", ["pku_dfiic_province_2011_2023.csv", "raw/PKU_DFIIC_province.dta"])
def test_pku_real_province(shared_data, fname):
    t = load_pku_dfiic(shared_data / "pku_dfiic" / fname)
    _check_table(t)
    assert t.data.shape[0] == 31 * 13
    assert t.data.groupby("year").size().eq(31).all() and t.data.year.min() == 2011 and t.data.year.max() == 2023
    # published values quoted in SOURCE.md
    assert _value(t, 31, 2011, "index_aggregate") == pytest.approx(80.19, abs=1e-9)
    assert _value(t, 11, 2011, "index_aggregate") == pytest.approx(79.41, abs=1e-9)
    assert _value(t, 31, 2020, "index_aggregate") == pytest.approx(431.93, abs=0.005)
    assert t.data.loc[t.data.year == 2011, "index_aggregate"].min() == pytest.approx(16.22, abs=0.005)  # Tibet
    assert t.data.loc[t.data.year == 2023, "index_aggregate"].max() == pytest.approx(473.8, abs=0.05)
    assert t.data.loc[t.data.year == 2020, "index_aggregate"].mean() == pytest.approx(341.2, abs=0.05)
    # structural missing values as documented
    assert t.data["monetary_fund"].isna().sum() == 217
    assert t.data["investment"].isna().sum() == 93
    assert t.data["credit_investigation"].isna().sum() == 279


@pytest.mark.realdata
def test_pku_real_csv_equals_dta(shared_data):
    a = load_pku_dfiic(shared_data / "pku_dfiic" / "pku_dfiic_province_2011_2023.csv").data
    b = load_pku_dfiic(shared_data / "pku_dfiic" / "raw" / "PKU_DFIIC_province.dta").data
    pd.testing.assert_frame_equal(a, b, atol=1e-6, rtol=0)  # the CSV carries 7 decimals
    a = load_pku_dfiic(shared_data / "pku_dfiic" / "pku_dfiic_city_2011_2023.csv", level="city").data
    b = load_pku_dfiic(shared_data / "pku_dfiic" / "raw" / "PKU_DFIIC_city.dta", level="city").data
    pd.testing.assert_frame_equal(a, b, atol=1e-6, rtol=0)


@pytest.mark.realdata
def test_pku_real_city(shared_data):
    t = load_pku_dfiic(shared_data / "pku_dfiic" / "raw" / "PKU_DFIIC_city.dta", level="city")
    _check_table(t)
    d = t.data
    assert len(d) == 4369 and d.city_code.nunique() == 338 and d.prov_code.nunique() == 31
    assert d.groupby("year").size().between(333, 337).all()
    assert (d.prov_code == d.city_code // 100).all()
    assert d.loc[d.year == 2011, "index_aggregate"].mean() == pytest.approx(49.4, abs=0.05)
    assert d.loc[d.year == 2023, "index_aggregate"].agg(["min", "max"]).tolist() == pytest.approx([229.3, 373.2], abs=0.05)
    assert d["credit"].isna().sum() == 31 and d["monetary_fund"].isna().sum() == 2351


@pytest.mark.realdata
def test_tidy_real_gdp_and_raw_nbs_file(shared_data):
    tidy = load_tidy_csv(shared_data / "cn_prov_gdp" / "cn_prov_gdp_1952_2021.csv", release="first release", name="gdp")
    _check_table(tidy)
    assert _value(tidy, 11, 2020, "gdp_100m_yuan") == 36102.55
    assert _value(tidy, 11, 2021, "gdp_100m_yuan") == 40269.55
    assert len(tidy.data) == 2083 and tidy.data.loc[tidy.data.year >= 1987].groupby("year").size().eq(31).all()
    raw_path = shared_data / "cn_prov_gdp" / "raw" / "gdp.csv"
    raw = load_tidy_csv(raw_path, province_col="province", mapping={"gdp": "gdp_100m_yuan", "gdp_per": "gdp_per_capita_yuan"})
    assert _value(raw, 11, 2020, "gdp_100m_yuan") == 36102.55
    assert any("dropped 70 rows" in n and "中国" in n for n in raw.notes)  # national rows dropped explicitly
    merged = tidy.data.merge(raw.data, on=["prov_code", "year"], suffixes=("", "_raw"), validate="1:1")
    assert len(merged) == len(tidy.data) == len(raw.data)
    np.testing.assert_array_equal(merged["gdp_100m_yuan"], merged["gdp_100m_yuan_raw"])
    with pytest.raises(SourceFormatError, match=r"gdp\.csv, row 7, column 'province'.*'中国' is a national"):
        load_tidy_csv(raw_path, province_col="province", mapping={"gdp": "g"}, aggregates="raise")


@pytest.mark.realdata
def test_nbs_loader_on_raw_long_files(shared_data):
    """The raw NBS-derived files with Chinese province names read with the NBS loader (long layout)."""
    gdp = load_nbs(shared_data / "cn_prov_gdp" / "raw" / "gdp.csv", release="first release")
    _check_table(gdp)
    assert _value(gdp, 11, 2020, "gdp") == 36102.55 and _value(gdp, 11, 2021, "gdp") == 40269.55
    assert any("中国" in n for n in gdp.notes)
    tidy = load_tidy_csv(shared_data / "cn_prov_gdp" / "cn_prov_gdp_1952_2021.csv").data
    m = tidy.merge(gdp.data, on=["prov_code", "year"], validate="1:1")
    assert len(m) == len(tidy) == len(gdp.data) == 2083
    np.testing.assert_array_equal(m["gdp"], m["gdp_100m_yuan"])
    np.testing.assert_array_equal(m["gdp_per"].fillna(-1), m["gdp_per_capita_yuan"].fillna(-1))
    dep = load_nbs(shared_data / "cn_prov_deposits_loans" / "raw" / "deposits_loans_31prov_2000_2023.xlsx")
    assert dep.columns["金融机构本外币存款余额"].unit == "亿元" and dep.columns["GDP"].unit == "亿元"
    assert _value(dep, 11, 2011, "金融机构本外币存款余额") == 75001.9
    mkt = load_nbs(shared_data / "cn_prov_population_fiscal" / "raw" / "mkt.csv")
    assert mkt.data.groupby("year").size().eq(31).all() and len(mkt.data) == 31 * 28
    ins = load_nbs(shared_data / "cn_prov_banking_insurance" / "raw" / "insurance_by_province_year.csv")
    assert len(ins.data) == 494


@pytest.mark.realdata
def test_tidy_real_deposits_loans_and_raw_workbook(shared_data):
    d = shared_data / "cn_prov_deposits_loans"
    t = load_tidy_csv(d / "cn_prov_deposits_loans_2000_2023.csv")
    _check_table(t)
    assert len(t.data) == 744
    assert _value(t, 11, 2011, "deposits_balance_100m_yuan") == 75001.9
    assert _value(t, 11, 2011, "loans_balance_100m_yuan") == 39660.5
    assert _value(t, 44, 2020, "loans_balance_100m_yuan") == pytest.approx(195681, abs=0.5)
    assert _value(t, 54, 2020, "loans_balance_100m_yuan") == pytest.approx(4956.9, abs=0.05)
    raw = load_tidy_csv(d / "raw" / "deposits_loans_31prov_2000_2023.xlsx", province_col="省份",
                        mapping={"金融机构本外币存款余额/亿元": "deposits", "本外币贷款余额/亿元": "loans"})
    m = t.data.merge(raw.data, on=["prov_code", "year"], validate="1:1")
    assert len(m) == 744
    # the tidy CSV carries 10 significant digits
    np.testing.assert_allclose(m["deposits"], m["deposits_balance_100m_yuan"], rtol=1e-9)
    np.testing.assert_allclose(m["loans"], m["loans_balance_100m_yuan"], rtol=1e-9)


@pytest.mark.realdata
def test_tidy_real_population_fiscal_and_raw_files(shared_data):
    d = shared_data / "cn_prov_population_fiscal"
    pop = load_tidy_csv(d / "cn_prov_population_urbanization_marketization_2000_2023.csv")
    _check_table(pop)
    y20 = pop.data[pop.data.year == 2020]
    assert y20["population_10k"].sum() == pytest.approx(141012, abs=1)
    assert y20["urbanization_rate"].min() == pytest.approx(0.357, abs=5e-4)
    assert y20.loc[y20["urbanization_rate"].idxmax(), "prov_code"] == 31
    assert y20["urbanization_rate"].max() == pytest.approx(0.893, abs=5e-4)
    fis = load_tidy_csv(d / "cn_prov_fiscal_expenditure_2007_2023.csv")
    assert len(fis.data) == 527
    f20 = fis.data[fis.data.year == 2020]
    assert f20["fiscal_expenditure_to_gdp"].median() == pytest.approx(0.24, abs=0.005)
    assert f20.loc[f20["fiscal_expenditure_to_gdp"].idxmax(), "prov_code"] == 54
    assert f20["fiscal_expenditure_to_gdp"].max() == pytest.approx(1.16, abs=0.005)
    # raw eco_ex.csv: Chinese short names in a column called "id", blank trailing rows
    raw = load_tidy_csv(d / "raw" / "eco_ex.csv", province_col="id",
                        mapping={"地方一般公共预算支出（亿元）": "general_budget_expenditure_100m_yuan"})
    m = fis.data.merge(raw.data, on=["prov_code", "year"], suffixes=("", "_raw"), validate="1:1")
    assert len(m) == 527
    np.testing.assert_array_equal(m["general_budget_expenditure_100m_yuan"], m["general_budget_expenditure_100m_yuan_raw"])
    # raw mkt.csv (NERI, 1997-2024, header 省份)
    mkt = load_tidy_csv(d / "raw" / "mkt.csv", mapping={"market": "neri"})
    m = pop.data.merge(mkt.data, on=["prov_code", "year"], validate="1:1")
    assert len(m) == 744
    np.testing.assert_allclose(m["neri"], m["neri_marketization_index"], rtol=1e-9)


@pytest.mark.realdata
def test_tidy_real_banking_insurance_and_raw_files(shared_data):
    d = shared_data / "cn_prov_banking_insurance"
    outlets = load_tidy_csv(d / "cn_prov_bank_outlets_by_type_2004_2020.csv", where={"bank_type_en": "total"})
    _check_table(outlets)
    assert _value(outlets, 11, 2011, "outlets_per_10k_persons") == pytest.approx(1.82, abs=0.005)
    y = outlets.data[outlets.data.year.between(2005, 2015)]
    assert y.groupby("year").size().eq(31).all()
    # raw long file by bank type: needs a filter; Shenzhen (a city) is not a province
    raw = d / "raw" / "bank_institutions_by_banktype_province_year.csv"
    with pytest.raises(SourceFormatError, match=r"duplicate province–year.*needs where="):
        load_tidy_csv(raw, province_col="province", unknown="drop")
    with pytest.raises(SourceFormatError, match=r"row \d+, column 'province': unknown province '深圳市'"):
        load_tidy_csv(raw, province_col="province", where={"bank_type_bfi": "合计"})
    tot = load_tidy_csv(raw, province_col="province", where={"bank_type_bfi": "合计"}, unknown="drop",
                        mapping={"outlet_pert": "outlets_per_10k_persons"})
    m = outlets.data.merge(tot.data, on=["prov_code", "year"], suffixes=("", "_raw"), validate="1:1")
    assert len(m) == len(outlets.data)
    np.testing.assert_array_equal(m["outlets_per_10k_persons"].fillna(-1), m["outlets_per_10k_persons_raw"].fillna(-1))
    ins = load_tidy_csv(d / "cn_prov_insurance_2004_2019.csv")
    assert len(ins.data) == 494
    assert ins.data.loc[(ins.data.year == 2017)].prov_code.nunique() == 30  # Hainan missing in 2017
    raw_ins = load_tidy_csv(d / "raw" / "insurance_by_province_year.csv",
                            mapping={"insurance_density": "insurance_density_yuan_per_capita"})
    m = ins.data.merge(raw_ins.data, on=["prov_code", "year"], suffixes=("", "_raw"), validate="1:1")
    assert len(m) == 494
    np.testing.assert_array_equal(m["insurance_density_yuan_per_capita"].fillna(-1),
                                  m["insurance_density_yuan_per_capita_raw"].fillna(-1))


@pytest.mark.realdata
def test_tidy_real_digital_infra(shared_data):
    t = load_tidy_csv(shared_data / "cn_prov_digital_infra" / "cn_prov_digital_infra_2013_2022.csv")
    _check_table(t)
    assert len(t.data) == 310 and t.data.isna().sum().sum() == 0
    assert _value(t, 44, 2022, "mobile_phone_subscribers_10k") == pytest.approx(16650.8, abs=0.05)
    assert _value(t, 44, 2022, "broadband_access_ports_10k") == pytest.approx(9892.2, abs=0.05)
    assert _value(t, 44, 2022, "ecommerce_sales_100m_yuan") == pytest.approx(47419.7, abs=0.05)
    pku = load_pku_dfiic(shared_data / "pku_dfiic" / "pku_dfiic_province_2011_2023.csv").data
    m = t.data.merge(pku, on=["prov_code", "year"])
    same = m[m.year.between(2013, 2020)]  # same PKU release for 2013-2020 (SOURCE.md)
    np.testing.assert_allclose(same["pku_dfiic_index_aggregate"], same["index_aggregate"], atol=0.006)


@pytest.mark.realdata
def test_reading_all_province_files_is_fast(shared_data):
    files = [
        ("pku", shared_data / "pku_dfiic" / "pku_dfiic_province_2011_2023.csv", {}),
        ("tidy", shared_data / "cn_prov_gdp" / "cn_prov_gdp_1952_2021.csv", {}),
        ("tidy", shared_data / "cn_prov_deposits_loans" / "cn_prov_deposits_loans_2000_2023.csv", {}),
        ("tidy", shared_data / "cn_prov_population_fiscal" / "cn_prov_population_urbanization_marketization_2000_2023.csv", {}),
        ("tidy", shared_data / "cn_prov_population_fiscal" / "cn_prov_fiscal_expenditure_2007_2023.csv", {}),
        ("tidy", shared_data / "cn_prov_banking_insurance" / "cn_prov_bank_outlets_by_type_2004_2020.csv",
         {"where": {"bank_type_en": "total"}}),
        ("tidy", shared_data / "cn_prov_banking_insurance" / "cn_prov_insurance_2004_2019.csv", {}),
        ("tidy", shared_data / "cn_prov_digital_infra" / "cn_prov_digital_infra_2013_2022.csv", {}),
    ]
    load_tidy_csv(files[1][1])  # warm the registry / OpenCC caches
    start = time.perf_counter()
    for kind, path, kw in files:
        (load_pku_dfiic if kind == "pku" else load_tidy_csv)(path, **kw)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.5, elapsed
