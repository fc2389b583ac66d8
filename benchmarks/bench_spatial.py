"""Speed of the spatial Durbin model with two-way fixed effects (ML, Lee–Yu, effects with 1000 draws).

Cases, each timed in the same run against PySAL spreg's fixed-effects ML lag
estimator (``spreg.Panel_FE_Lag`` with [X, WX] as regressors: unit effects
only, no effects or bias correction — spreg has no two-way SDM, so the anchor
does strictly less work):

1. 31 provinces × 13 years, queen contiguity from the province registry
   (Hainan–Guangdong island link); y simulated from an SDM.
2. PKU-DFIIC prefecture cities, 2011–2023, balanced sub-panel (cities observed
   in all 13 years), k = 5 nearest-neighbour weights; y = log aggregate index,
   x = log digitization and log coverage-breadth sub-indices. Needs
   ../shared/data (skipped otherwise).
3. All 337 PKU prefecture units × 13 years with the same kNN weights and a
   simulated SDM outcome (the full-size benchmark).

City coordinates: the prefecture centroids shipped with the ``cpca`` package
(``cpca/resources/adcodes.csv``, GB/T 2260 adcodes with longitude/latitude);
Nagqu (2018 code 5406) is matched through its pre-2018 code 5424. Without
cpca the benchmark uses a documented fallback: the provincial capital plus a
deterministic jitter (benchmark-only approximation, realistic size and sparsity
only).

Run from the repository root: ``python -m benchmarks.bench_spatial [--repeat N]``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import best_time, shared_data_dir
from fiproxy.estimators.spatial import spatial_panel
from fiproxy.estimators.spatial_weights import SpatialWeights

CITY_CSV = shared_data_dir() / "pku_dfiic" / "pku_dfiic_city_2011_2023.csv"
_RENAMED = {5406: 5424}  # Nagqu: prefecture-level city since 2018, cpca lists the former prefecture code


def city_coordinates(codes: list[int]) -> tuple[pd.DataFrame, str]:
    """lat/lon per 4-digit prefecture code: cpca centroids, else capital + deterministic jitter."""
    try:
        from importlib.resources import files

        ad = pd.read_csv(files("cpca").joinpath("resources/adcodes.csv"), dtype={"adcode": str})
        ad = ad[ad["adcode"].str[4:] == "00000000"]
        ad.index = ad["adcode"].str[:4].astype(int)
        rows = {c: ad.loc[_RENAMED.get(c, c), ["latitude", "longitude"]].to_numpy(float) for c in codes}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lat", "lon"]), "cpca prefecture centroids"
    except (ImportError, KeyError, FileNotFoundError):
        from fiproxy.data import registry

        prov = registry.provinces()
        rng = np.random.default_rng(0)
        rows = {c: prov.loc[c // 100, ["capital_lat", "capital_lon"]].to_numpy(float) + rng.normal(0, 1.0, 2) for c in codes}
        return pd.DataFrame.from_dict(rows, orient="index", columns=["lat", "lon"]), "FALLBACK capital + jitter (approximation)"


def simulate(W: SpatialWeights, T: int = 13, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    N, Wd = W.n, W.dense()
    A = np.linalg.inv(np.eye(N) - 0.4 * Wd)
    mu = rng.normal(size=N)
    rows = []
    for t in range(T):
        X = rng.normal(size=(N, 2)) + 0.5 * mu[:, None]
        y = A @ (X @ [1.0, -0.5] + Wd @ X @ [0.5, 0.3] + mu + rng.normal() + rng.normal(size=N))
        rows.append(pd.DataFrame({"prov_code": W.ids, "year": 2011 + t, "y": y, "x1": X[:, 0], "x2": X[:, 1]}))
    return pd.concat(rows, ignore_index=True)


def run_fiproxy(d: pd.DataFrame, W: SpatialWeights, formula: str, unit: str) -> float:
    res = spatial_panel(formula, d, W, model="sdm", fe="twoway", unit=unit, draws=1000, seed=0)
    return float(res.params["rho"])


def run_spreg(d: pd.DataFrame, W: SpatialWeights, formula: str, unit: str) -> float:
    import libpysal
    import spreg

    yname, rhs = (s.strip() for s in formula.split("~"))
    xs = [v.strip() for v in rhs.split("+")]
    d = d.sort_values(["year", unit])
    Wd = W.dense()
    X = d[xs].to_numpy(float)
    WX = np.vstack([Wd @ X[i:i + W.n] for i in range(0, len(X), W.n)])
    w = libpysal.weights.WSP(W.sparse()).to_W(silence_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = spreg.Panel_FE_Lag(d[[yname]].to_numpy(float), np.hstack([X, WX]), w)
    return float(m.rho)


def cases():
    from fiproxy.data import registry  # noqa: F401  (queen weights need the registry)

    Wq = SpatialWeights.from_registry("queen")
    yield "31 provinces × 13, queen", simulate(Wq), Wq, "y ~ x1 + x2", "prov_code", "registry"
    codes_all = None
    if CITY_CSV.exists():
        city = pd.read_csv(CITY_CSV)
        codes_all = sorted(city["city_code_2018"].unique().tolist())
        n_years = city.groupby("city_code_2018")["year"].nunique()
        full = n_years[n_years == 13].index
        bal = city[city["city_code_2018"].isin(full)].copy()
        pos = (bal[["index_aggregate", "digitization_level", "coverage_breadth"]] > 0).all(axis=1)
        bal = bal[pos]  # logs need positive values (a few early sub-index values are not)
        keep = bal.groupby("city_code_2018")["year"].nunique()
        bal = bal[bal["city_code_2018"].isin(keep[keep == 13].index)]
        for v in ("index_aggregate", "digitization_level", "coverage_breadth"):
            bal["ln_" + v] = np.log(bal[v])
        ids = sorted(bal["city_code_2018"].unique().tolist())
        xy, src = city_coordinates(ids)
        Wc = SpatialWeights.from_coordinates(xy["lat"], xy["lon"], ids, kind="knn", k=5)
        yield (f"PKU cities (balanced {len(ids)}) × 13, kNN k=5", bal, Wc,
               "ln_index_aggregate ~ ln_digitization_level + ln_coverage_breadth", "city_code_2018", src)
    if codes_all is None or len(codes_all) < 337:
        return
    codes = [c for c in codes_all if c != 5424][:337]  # the 337 distinct 2018 prefecture units
    xy, src = city_coordinates(codes)
    Wk = SpatialWeights.from_coordinates(xy["lat"], xy["lon"], codes, kind="knn", k=5)
    yield "337 prefectures × 13 (simulated y), kNN k=5", simulate(Wk), Wk, "y ~ x1 + x2", "prov_code", src


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    lines = [
        "| case | fiproxy SDM two-way + Lee–Yu + effects (s) | spreg Panel_FE_Lag [X, WX], unit FE (s) | ratio fiproxy/spreg | target | coordinates |",
        "|---|---|---|---|---|---|",
    ]
    for name, d, W, formula, unit, src in cases():
        tf, _ = best_time(run_fiproxy, d, W, formula, unit, repeat=args.repeat)
        ts, _ = best_time(run_spreg, d, W, formula, unit, repeat=args.repeat)
        target = "< 1 s" if W.n <= 31 else "< 30 s"
        lines.append(f"| {name} | {tf:.3f} | {ts:.3f} | {tf / ts:.2f} | {target} | {src} |")
    table = "\n".join(lines)
    print(table)
    return table


if __name__ == "__main__":
    main()
