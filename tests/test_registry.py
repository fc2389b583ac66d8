"""Province registry: facts, contiguity, distances and name resolution."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from fiproxy.data import registry
from fiproxy.data.registry import (
    UnknownProvinceError,
    distance_to_hangzhou,
    great_circle_km,
    neighbors,
    provinces,
    resolve_city,
    resolve_province,
)

P = provinces()

FOUR_REGIONS = {
    "east": {11, 12, 13, 31, 32, 33, 35, 37, 44, 46},
    "central": {14, 34, 36, 41, 42, 43},
    "west": {15, 45, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65},
    "northeast": {21, 22, 23},
}


def test_shape_codes_and_columns():
    assert len(P) == 31
    assert P.index.dtype == np.int64
    assert sorted(P.index) == [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
                               41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65]
    for col in ["name_zh", "short_zh", "name_trad", "pinyin", "name_en", "aliases", "region4", "belt3",
                "capital_zh", "capital_en", "capital_lat", "capital_lon", "neighbors", "dist_hangzhou_km"]:
        assert col in P.columns
    assert P.at[45, "name_zh"] == "广西壮族自治区" and P.at[45, "short_zh"] == "广西"
    assert P.at[15, "name_trad"] == "內蒙古自治區"
    assert provinces() is P  # cached


def test_regions_and_belts():
    for region, codes in FOUR_REGIONS.items():
        assert set(P.index[P.region4 == region]) == codes
    # belt3: east = four-region east + Liaoning; central = four-region central + Jilin, Heilongjiang
    assert set(P.index[P.belt3 == "east"]) == FOUR_REGIONS["east"] | {21}
    assert set(P.index[P.belt3 == "central"]) == FOUR_REGIONS["central"] | {22, 23}
    assert set(P.index[P.belt3 == "west"]) == FOUR_REGIONS["west"]
    diff = P.index[P.belt3 != P.belt3_1986]
    assert set(diff) == {15, 45}  # Inner Mongolia (central in 1986), Guangxi (east in 1986)


def test_names_are_consistent_with_opencc_and_pypinyin():
    import opencc
    from pypinyin import lazy_pinyin

    s2t = opencc.OpenCC("s2t")
    for code, row in P.iterrows():
        assert row.name_trad == s2t.convert(row.name_zh)
        assert row.name_zh.startswith(row.short_zh)
        toneless = "".join(lazy_pinyin(row.short_zh))
        if code == 61:  # official romanisation Shaanxi keeps 陕西 apart from 山西 Shanxi
            assert toneless == "shanxi" and row.pinyin == "Shaanxi"
        else:
            assert row.pinyin.replace(" ", "").lower() == toneless, code


def _adjacency(island_links: bool) -> dict[int, set[int]]:
    return {c: set(neighbors(c, island_links=island_links)) for c in P.index}


@pytest.mark.parametrize("island_links", [True, False])
def test_contiguity_symmetric_and_irreflexive(island_links):
    adj = _adjacency(island_links)
    for c, nb in adj.items():
        assert c not in nb
        assert nb <= set(P.index)
        for n in nb:
            assert c in adj[n], (c, n)


def test_contiguity_facts():
    adj = _adjacency(island_links=False)
    assert adj[15] == {13, 14, 21, 22, 23, 61, 62, 64}  # Inner Mongolia: 8 neighbours
    assert adj[61] == {14, 15, 41, 42, 50, 51, 62, 64}  # Shaanxi: 8
    assert adj[54] == {51, 53, 63, 65}  # Tibet
    assert adj[11] == {12, 13} and adj[12] == {11, 13}
    assert adj[31] == {32, 33}
    assert adj[23] == {15, 22}
    assert adj[44] == {35, 36, 43, 45}
    assert adj[65] == {54, 62, 63}
    assert adj[46] == set()  # Hainan: island
    n_links = sum(len(v) for v in adj.values()) // 2
    assert n_links == 68
    # every mainland province is connected, and the graph is one component
    seen, stack = {11}, [11]
    while stack:
        for n in adj[stack.pop()]:
            if n not in seen:
                seen.add(n)
                stack.append(n)
    assert seen == set(P.index) - {46}
    with_islands = _adjacency(island_links=True)
    assert with_islands[46] == {44} and 46 in with_islands[44]
    assert sum(len(v) for v in with_islands.values()) // 2 == 69


def test_great_circle_reference_values():
    # one degree of arc on the equator = 2*pi*R/360
    assert great_circle_km(0, 0, 0, 1) == pytest.approx(2 * np.pi * 6371.0088 / 360, rel=1e-12)
    # antipodes = pi*R
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(np.pi * 6371.0088, rel=1e-12)
    # vectorised
    d = great_circle_km(np.array([0.0, 10.0]), np.array([0.0, 0.0]), 0.0, 0.0)
    assert d.shape == (2,) and d[0] == 0.0 and d[1] == pytest.approx(1111.95, abs=0.01)
    # Beijing–Shanghai capitals: about 1,068 km great-circle (published city distance ~1,067 km)
    assert great_circle_km(*P.loc[11, ["capital_lat", "capital_lon"]], *P.loc[31, ["capital_lat", "capital_lon"]]) \
        == pytest.approx(1068, abs=5)


def test_distance_to_hangzhou():
    assert distance_to_hangzhou(33) == 0.0
    assert distance_to_hangzhou("上海") == pytest.approx(165, abs=5)  # Shanghai–Hangzhou ~165 km
    far = P["dist_hangzhou_km"].idxmax()
    assert far == 65  # Urumqi is the farthest capital
    assert P.at[65, "dist_hangzhou_km"] == pytest.approx(3230, abs=15)  # Urumqi–Hangzhou ~3,230 km
    assert (P["dist_hangzhou_km"] >= 0).all()


def test_capital_coordinates_agree_with_cpca_table():
    """The capitals' coordinates are within 30 km of the city coordinates in cpca's GB/T 2260 table."""
    cpca = pytest.importorskip("cpca")
    table = pd.read_csv(os.path.join(os.path.dirname(cpca.__file__), "resources", "adcodes.csv"),
                        dtype={"adcode": str}).set_index("adcode")
    for code, row in P.iterrows():
        city_adcode = f"{code}0100000000" if code not in (11, 12, 31, 50) else f"{code}0000000000"
        ref = table.loc[city_adcode]
        d = great_circle_km(row.capital_lat, row.capital_lon, ref.latitude, ref.longitude)
        assert d < 30, (code, d)


@pytest.mark.parametrize(
    "value, code",
    [
        (11, 11), ("11", 11), ("110000", 11), (110000, 11), (11.0, 11), (np.int64(44), 44), ("４４", 44),
        ("440000000000", 44),
        ("广西", 45), ("广西壮族自治区", 45), ("廣西壯族自治區", 45), ("Guangxi Zhuang Autonomous Region", 45),
        ("内蒙古", 15), ("內蒙古", 15), ("Inner Mongolia", 15), ("Nei Mongol", 15), ("neimenggu", 15),
        ("新疆", 65), ("Xinjiang Uyghur Autonomous Region", 65), ("西藏", 54), ("Tibet", 54), ("Xizang", 54),
        ("廣東", 44), ("广东省", 44), ("  北 京 市 ", 11), ("ＢＥＩＪＩＮＧ", 11), ("Beijing Shi", 11),
        ("陕西", 61), ("陜西", 61), ("陝西省", 61), ("Shaanxi", 61), ("Shanxi", 14), ("山西", 14),
        ("重庆", 50), ("重慶市", 50), ("Chongqing Municipality", 50), ("Szechwan", 51), ("Hainan", 46),
        ("Heilongjiang Province", 23), ("宁夏回族自治区", 64), ("Ningxia Hui", 64),
    ],
)
def test_resolve_province(value, code):
    assert resolve_province(value) == code
    assert type(resolve_province(value)) is int


def test_every_registry_spelling_resolves_to_its_own_code():
    for code, row in P.iterrows():
        for s in [row.name_zh, row.short_zh, row.name_trad, row.short_trad, row.pinyin, row.name_en,
                  *filter(None, row.aliases.split(";"))]:
            assert resolve_province(s) == code, s
            assert resolve_province(f" {s} ") == code


@pytest.mark.parametrize("bad", ["Shanxii", "北就", "Taiwan", "中国", "全国", "1100", 99, "", None, 11.5, True])
def test_unknown_province_raises(bad):
    with pytest.raises(UnknownProvinceError):
        resolve_province(bad)


def test_unknown_province_message_lists_closest_matches():
    with pytest.raises(UnknownProvinceError) as err:
        resolve_province("Shanxii")
    msg = str(err.value)
    assert "Shanxii" in msg and "山西省" in msg and "陕西省" in msg
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    with pytest.raises(UnknownProvinceError, match="aggregate"):
        resolve_province("中国")


def test_aggregate_names():
    assert registry.is_aggregate_name("中国") and registry.is_aggregate_name(" 全 国 ")
    assert registry.is_aggregate_name("China") and registry.is_aggregate_name("东部地区")
    assert not registry.is_aggregate_name("北京") and not registry.is_aggregate_name(float("nan"))


@pytest.mark.parametrize(
    "value, code",
    [(3301, 33), ("3301", 33), ("330100", 33), (330100.0, 33), ("杭州市", 33), ("北京市", 11), ("那曲市", 54),
     ("林芝地区", 54), ("重慶市", 50), ("吐鲁番市", 65), ("巢湖市", 34), ("儋州市", 46)],
)
def test_resolve_city(value, code):
    assert resolve_city(value) == code


@pytest.mark.parametrize("bad", ["99", "9901", "12345", "不存在市", ""])
def test_resolve_city_unknown(bad):
    with pytest.raises(UnknownProvinceError):
        resolve_city(bad)


@pytest.mark.realdata
def test_every_pku_city_resolves_to_its_province(shared_data):
    city = pd.read_csv(shared_data / "pku_dfiic" / "pku_dfiic_city_2011_2023.csv")
    units = city[["prov_code", "city_code_2018", "city_name_zh_2018", "city_code_2014", "city_name_zh_2014"]] \
        .drop_duplicates()
    assert len(units) >= 337
    for row in units.itertuples(index=False):
        assert resolve_city(row.city_name_zh_2018) == row.prov_code, row
        assert resolve_city(row.city_name_zh_2014) == row.prov_code, row
        assert resolve_city(row.city_code_2018) == row.prov_code, row
        assert resolve_city(row.city_code_2014) == row.prov_code, row


@pytest.mark.realdata
def test_every_province_spelling_in_shared_data_resolves(shared_data):
    for path in sorted(shared_data.glob("*/*.csv")):
        frame = pd.read_csv(path)
        if "prov_code" not in frame:
            continue
        for col in ("prov_name_zh", "prov_name_en"):
            if col in frame:
                pairs = frame[["prov_code", col]].drop_duplicates()
                got = pairs[col].map(resolve_province)
                assert (got == pairs["prov_code"]).all(), (path.name, col)


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


SPELLINGS = [(int(code), s) for code, row in P.iterrows()
             for s in [row.name_zh, row.short_zh, row.name_trad, row.pinyin, row.name_en,
                       *filter(None, row.aliases.split(";"))]]


def test_resolution_survives_spacing_width_and_case():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=100, deadline=None, derandomize=True)
    @hypothesis.given(st.sampled_from(SPELLINGS), st.lists(st.sampled_from([" ", "\u3000", "\t"]), max_size=3),
                      st.integers(min_value=0, max_value=50), st.booleans(), st.booleans())
    def check(item, spaces, where, wide, upper):
        code, s = item
        cut = where % (len(s) + 1)
        text = s[:cut] + "".join(spaces) + s[cut:]
        text = text.upper() if upper else text
        text = _full_width(text) if wide else text
        assert resolve_province(text) == code

    check()
