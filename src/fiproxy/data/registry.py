"""Registry of China's 31 provincial-level units and name resolution.

The facts live in ``data/provinces.csv`` (one row per province): the GB/T 2260 code
(2-digit ``prov_code``), the official simplified name and short form, traditional
characters, the official romanisation (Hanyu Pinyin, with *Shaanxi* for 陕西 to keep it
apart from 山西 *Shanxi*), the English name, extra spellings (``aliases``: "Nei Mongol",
"Tibet"/"Xizang", Wade–Giles / postal forms such as "Szechwan", variant characters such as
陜西 that OpenCC does not map), the regional groupings, the capital and its coordinates, and
the land-border neighbours.

Regional groupings
    ``region4`` is the NBS four-region division of 2011 (东部 east 10, 中部 central 6,
    西部 west 12, 东北 northeast 3). ``belt3`` is the east/central/west division used in NBS
    statistics since the Western Development programme (2000): east 11 (the four-region east
    plus Liaoning), central 8 (the four-region central plus Jilin, Heilongjiang), west 12.
    ``belt3_1986`` is the original "three economic belts" of the Seventh Five-Year Plan
    (1986), which differs only in Guangxi (east) and Inner Mongolia (central).

Contiguity
    ``neighbors`` lists provinces sharing a land border (Hong Kong and Macao are not in the
    registry, so Guangdong's neighbours are Fujian, Jiangxi, Hunan and Guangxi). The relation
    is symmetric. Hainan is an island and has no land neighbour; spatial-econometrics work on
    China's provinces usually links it to Guangdong (the Qiongzhou Strait ferry and rail link)
    so that the spatial-weights matrix has no isolate. :func:`neighbors` does so by default
    (``island_links=True``); pass ``island_links=False`` for pure land contiguity, where Hainan
    is an isolate.

Distances
    :func:`great_circle_km` is the haversine distance on a sphere of mean Earth radius
    R = 6371.0088 km (IUGG mean radius); ``dist_hangzhou_km`` is the distance from each
    provincial capital to Hangzhou (seat of Ant Group / Alipay), the instrument for digital
    finance introduced by Zhang, Wan, Zhang & He (2019), 数字经济、普惠金融与包容性增长
    (Digital economy, financial inclusion and inclusive growth), Economic Research Journal 54(8).

Name resolution
    :func:`resolve_province` accepts codes (``11``, ``"11"``, ``"110000"``, ``11.0``) and names in
    any of the forms above, with or without administrative suffixes (省/市/自治区,
    "Province", "Autonomous Region" …), stray whitespace and full-width characters;
    traditional characters are mapped to simplified ones with OpenCC. Prefecture-level cities
    are resolved by :func:`resolve_city` through the GB/T 2260 division table of the ``cpca``
    package.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "UnknownProvinceError",
    "provinces",
    "resolve_province",
    "resolve_city",
    "neighbors",
    "great_circle_km",
    "distance_to_hangzhou",
    "is_aggregate_name",
    "normalize_name",
    "REGISTRY_CSV",
    "EARTH_RADIUS_KM",
    "HANGZHOU",
]

REGISTRY_CSV = Path(__file__).resolve().parents[3] / "data" / "provinces.csv"
EARTH_RADIUS_KM = 6371.0088
HANGZHOU = (30.2741, 120.1551)  # lat, lon of Hangzhou (Zhejiang's capital)
_HAINAN, _GUANGDONG = 46, 44

# Administrative suffixes, longest first, stripped after an exact lookup fails.
_SUFFIXES_ZH = (
    "维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市",
)
_SUFFIXES_EN = (
    "zhuangautonomousregion", "huiautonomousregion", "uygurautonomousregion",
    "uyghurautonomousregion", "uighurautonomousregion", "autonomousregion",
    "zhuangzuzizhiqu", "huizuzizhiqu", "weiwuerzizhiqu", "zizhiqu",
    "municipality", "province", "sheng", "city", "shi",
)
# National totals and regional aggregates that appear as rows in statistical tables.
_AGGREGATES = frozenset(
    {
        "中国", "全国", "全国合计", "全国总计", "合计", "总计", "总计数", "全国平均",
        "东部", "中部", "西部", "东北", "东部地区", "中部地区", "西部地区", "东北地区",
        "china", "national", "nationwide", "total", "all", "chinatotal",
    }
)


class UnknownProvinceError(KeyError, ValueError):
    """A name or code that is not one of the 31 provincial units (message lists close matches)."""

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the message
        return str(self.args[0]) if self.args else ""


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def normalize_name(text: str) -> str:
    """Canonical lookup key: NFKC (full-width → ASCII), traditional → simplified, no spaces,
    no punctuation, lower case."""
    s = unicodedata.normalize("NFKC", str(text))
    s = _t2s().convert(s)
    s = re.sub(r"[\s'’`\-_.,·()（）]+", "", s)
    return s.lower()


def _strip_suffix(key: str) -> str:
    for suffixes in (_SUFFIXES_ZH, _SUFFIXES_EN):
        for suf in suffixes:
            if key.endswith(suf) and len(key) > len(suf):
                return key[: -len(suf)]
    return key


@functools.lru_cache(maxsize=1)
def provinces() -> pd.DataFrame:
    """The registry as a DataFrame indexed by ``prov_code`` (int64), with ``dist_hangzhou_km``.

    Cached: treat the returned frame as read-only (copy before modifying).
    """
    df = pd.read_csv(REGISTRY_CSV, dtype={"prov_code": "int64", "aliases": str, "neighbors": str},
                     keep_default_na=False)
    df["capital_lat"] = df["capital_lat"].astype("float64")
    df["capital_lon"] = df["capital_lon"].astype("float64")
    df["dist_hangzhou_km"] = great_circle_km(df["capital_lat"].to_numpy(), df["capital_lon"].to_numpy(),
                                             *HANGZHOU)
    return df.set_index("prov_code")


@functools.lru_cache(maxsize=1)
def _lookup() -> dict[str, int]:
    """Normalized spelling → code, built from every name column and the aliases."""
    table: dict[str, int] = {}
    for code, row in provinces().iterrows():
        spellings = [row.name_zh, row.short_zh, row.name_trad, row.short_trad, row.pinyin, row.name_en,
                     *[a for a in row.aliases.split(";") if a]]
        for s in spellings:
            for key in {normalize_name(s), _strip_suffix(normalize_name(s))}:
                if table.setdefault(key, int(code)) != code:
                    raise RuntimeError(f"{REGISTRY_CSV}: spelling {s!r} is claimed by {table[key]} and {code}")
    return table


def _code_from_number(value: int) -> int | None:
    codes = provinces().index
    for divisor in (1, 10_000, 10_000_000_000):  # 2-digit code, 6-digit adcode, 12-digit statistical code
        if value % divisor == 0 and (value // divisor) in codes:
            if divisor == 1 or 10 * divisor <= value < 100 * divisor:
                return int(value // divisor)
    return None


def _closest(key: str, n: int = 5) -> list[str]:
    table = _lookup()
    names = provinces()
    hits = difflib.get_close_matches(key, list(table), n=n * 3, cutoff=0.5)
    out: list[str] = []
    for h in hits:
        code = table[h]
        label = f"{names.at[code, 'name_zh']} ({names.at[code, 'name_en']}, {code})"
        if label not in out:
            out.append(label)
    return out[:n]


def is_aggregate_name(value) -> bool:
    """True for national totals / regional aggregates (中国, 全国, 合计, 东部地区, China …)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return normalize_name(value) in _AGGREGATES


@functools.lru_cache(maxsize=4096)
def _resolve_text(text: str) -> int:
    key = normalize_name(text)
    if not key:
        raise UnknownProvinceError("empty province name")
    if key.isdigit():
        code = _code_from_number(int(key))
        if code is None:
            raise UnknownProvinceError(
                f"{text!r} is not a province code: expected a 2-digit GB/T 2260 code (11 … 65) or a "
                f"6-digit adcode such as 110000 (for prefecture codes use resolve_city)"
            )
        return code
    table = _lookup()
    if key in table:
        return table[key]
    stripped = _strip_suffix(key)
    if stripped in table:
        return table[stripped]
    hint = "; it is a national/regional aggregate, not a province" if key in _AGGREGATES else ""
    close = _closest(key)
    raise UnknownProvinceError(
        f"unknown province {text!r}{hint}; closest matches: {', '.join(close) if close else 'none'}"
    )


def resolve_province(name_or_code) -> int:
    """2-digit GB/T 2260 code of a province given its code or any known spelling.

    Raises :class:`UnknownProvinceError` listing the closest known names when nothing matches.
    """
    if isinstance(name_or_code, (bool, np.bool_)) or name_or_code is None:
        raise UnknownProvinceError(f"not a province name or code: {name_or_code!r}")
    if isinstance(name_or_code, (int, np.integer)):
        code = _code_from_number(int(name_or_code))
        if code is None:
            raise UnknownProvinceError(f"{int(name_or_code)} is not a GB/T 2260 province code (11 … 65 or a 6-digit adcode)")
        return code
    if isinstance(name_or_code, (float, np.floating)):
        if not math.isfinite(name_or_code) or name_or_code != int(name_or_code):
            raise UnknownProvinceError(f"{name_or_code!r} is not a province code")
        return resolve_province(int(name_or_code))
    return _resolve_text(str(name_or_code))


def neighbors(code, island_links: bool = True) -> list[int]:
    """Codes of the provinces sharing a land border with ``code`` (sorted).

    With ``island_links=True`` (default) Hainan and Guangdong are linked across the
    Qiongzhou Strait, the usual convention for provincial spatial weights; with ``False``
    Hainan has no neighbour.
    """
    c = resolve_province(code)
    raw = provinces().at[c, "neighbors"]
    out = {int(x) for x in raw.split(";") if x}
    if island_links:
        if c == _HAINAN:
            out.add(_GUANGDONG)
        elif c == _GUANGDONG:
            out.add(_HAINAN)
    return sorted(out)


def great_circle_km(lat1, lon1, lat2, lon2):
    """Haversine great-circle distance in km (R = 6371.0088 km); accepts scalars or arrays."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    d = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if np.ndim(d) == 0 else d


def distance_to_hangzhou(code) -> float:
    """Great-circle distance (km) from the capital of province ``code`` to Hangzhou."""
    return float(provinces().at[resolve_province(code), "dist_hangzhou_km"])


# ---------------------------------------------------------------------------------------------
# prefecture-level cities
@functools.lru_cache(maxsize=1)
def _cpca_transform():
    try:
        import cpca
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("resolving city names needs the 'cpca' package (pip install cpca)") from exc
    return cpca.transform


@functools.lru_cache(maxsize=8192)
def _resolve_city_name(text: str) -> int:
    key = unicodedata.normalize("NFKC", text)
    key = re.sub(r"\s+", "", _t2s().convert(key))
    if not key:
        raise UnknownProvinceError("empty city name")
    # cpca's division table predates some 地区 → 市 conversions (e.g. 那曲地区 → 那曲市, 2018):
    # try the name as given, then with 地区 for 市.
    candidates = [key]
    if key.endswith("市"):
        candidates.append(key[:-1] + "地区")
    transform = _cpca_transform()
    for cand in candidates:
        res = transform([cand])
        adcode = res["adcode"].iloc[0]
        city = res["市"].iloc[0]
        # accept a match only at city level (or the province-level municipalities)
        if isinstance(adcode, str) and adcode[:2].isdigit() and (isinstance(city, str) or
                                                                  int(adcode[:2]) in (11, 12, 31, 50)):
            return resolve_province(int(adcode[:2]))
    raise UnknownProvinceError(f"unknown prefecture-level city {text!r} (not in the GB/T 2260 table of cpca)")


def resolve_city(name_or_code) -> int:
    """Province code of a prefecture-level city, given its code or Chinese name.

    Codes: 4-digit prefecture codes (PKU-DFIIC ``pref_code_year18``, e.g. 3301 → 33),
    6-digit adcodes (330100 → 33) and 12-digit statistical codes. Names (e.g. 杭州市, 那曲市,
    traditional characters allowed) are looked up in the GB/T 2260 table of ``cpca``.
    """
    if isinstance(name_or_code, (float, np.floating)) and math.isfinite(name_or_code) \
            and name_or_code == int(name_or_code):
        name_or_code = int(name_or_code)
    if isinstance(name_or_code, (int, np.integer)) and not isinstance(name_or_code, (bool, np.bool_)):
        digits = str(int(name_or_code))
    else:
        digits = unicodedata.normalize("NFKC", str(name_or_code)).strip()
        if not digits.isdigit():
            return _resolve_city_name(digits)
    width_to_divisor = {4: 100, 6: 10_000, 12: 10_000_000_000}
    if len(digits) not in width_to_divisor:
        raise UnknownProvinceError(f"{name_or_code!r} is not a city code: expected 4, 6 or 12 digits")
    prov = int(digits) // width_to_divisor[len(digits)]
    if prov not in provinces().index:
        raise UnknownProvinceError(f"city code {name_or_code!r}: prefix {prov} is not a province code")
    return prov
