"""Calibration constants of the SIMULATED default panel, from the real province sources.

Reads the real province panel from a folder laid out like ``../shared/data`` (through
:func:`fiproxy.data.real.build_real_panel`) and writes ``data/calibration.json``: summary
statistics only, never data rows.

For every calibrated variable, on its generation scale g (log for positive quantities,
logit for fractions, level otherwise):

* ``mu`` / ``sigma``: cross-province mean and standard deviation of g(x) in each observed
  year, and a linear ``trend`` of ``mu`` in the year (used outside the observed years);
* ``phi``: share of the variance of the standardized value z = (g - mu_t) / sigma_t that is a
  permanent province component; ``rho``: first-order autocorrelation of the rest;
* ``level_mean``: cross-province mean of x per year (to check the simulated levels);
* ``between_corr``: correlation of the permanent province components across variables and
  with the (standardized) distance from the capital to Hangzhou;
* ``first_stage``: two-way within slope of ln(dfi_index) on distance-to-Hangzhou x years.

Variables with no shipped source (NPL ratio, fintech credit share, old-age share) get the
``assumed`` constants below, each with the public statistic it rests on.

Usage: ``python scripts/calibrate.py [--data-dir ../shared/data] [--out data/calibration.json]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
YEARS = (2011, 2023)

# variable -> generation scale
SCALES = {
    "dfi_index": "log", "dfi_breadth": "log", "dfi_depth": "log", "dfi_digitization": "log", "dfi_payment": "log",
    "dfi_credit": "log", "loans_gdp": "log", "deposits_gdp": "log", "bank_outlets_pc": "level",
    "insurance_density": "log", "population": "log", "urbanization": "logit", "mobile_internet_pc": "log",
    "internet_penetration": "log", "ecommerce_gdp": "log", "gdp_pc": "log", "secondary_share": "logit",
    "tertiary_share": "logit", "fiscal_gdp": "log", "marketization": "level",
}

# Series with no shipped source: constants resting on published national statistics.
ASSUMED = {
    "npl_ratio": {
        "scale": "log", "level_mean": {"2011": 0.010, "2023": 0.016}, "sigma": 0.35, "phi": 0.6, "rho": 0.7,
        "basis": "CBRC/NFRA commercial-bank NPL ratio: 1.0% (2011), 1.67% (2015), 1.86% (2019), 1.59% (2023); "
                 "provincial spread assumed (log sd 0.35)",
    },
    "fintech_credit_share": {
        "scale": "logit", "level_mean": {"2011": 0.01, "2023": 0.15}, "sigma": 0.5, "phi": 0.7, "rho": 0.8,
        "basis": "no official provincial series; assumed rise of platform (online) lending to about 15% of "
                 "household and small-business credit by 2023, with province spread (logit sd 0.5)",
    },
    "old_age_share": {
        "scale": "logit", "level_mean": {"2011": 0.091, "2023": 0.154}, "sigma": 0.25, "phi": 0.95, "rho": 0.9,
        "basis": "NBS: population aged 65+ 9.1% (2011), 13.5% (2020 census), 15.4% (2023); 2020 census "
                 "provincial range 5.7% (Tibet) - 17.4% (Liaoning)",
    },
}


def _g(x: np.ndarray, scale: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        if scale == "log":
            return np.where(x > 0, np.log(x), np.nan)
        if scale == "logit":
            return np.where((x > 0) & (x < 1), np.log(x / (1 - x)), np.nan)
    return x


def _within(values, prov, year):
    """Two-way (province, year) within transformation of a complete-case vector."""
    import pandas as pd

    from fiproxy.estimators.demean import demean, factorize_fe

    codes = factorize_fe(pd.DataFrame({"p": prov, "y": year}))
    out, _ = demean(np.asarray(values, dtype="float64").reshape(len(values), -1), codes)
    return out


def calibrate(data_dir) -> dict:
    from fiproxy.data import registry
    from fiproxy.data.real import build_real_panel

    panel = build_real_panel(data_dir, years=YEARS)
    df = panel.data
    dist = registry.provinces()["dist_hangzhou_km"]
    provs = np.array(sorted(df["prov_code"].unique()))
    stats: dict[str, dict] = {}
    effects: dict[str, np.ndarray] = {}
    for var, scale in SCALES.items():
        g = _g(df[var].to_numpy(dtype="float64"), scale)
        ok = np.isfinite(g)
        sub = df.loc[ok, ["prov_code", "year"]].assign(g=g[ok], x=df.loc[ok, var].to_numpy())
        by_year = sub.groupby("year")
        mu, sigma, level = by_year["g"].mean(), by_year["g"].std(ddof=1), by_year["x"].mean()
        z = (sub["g"] - sub["year"].map(mu)) / sub["year"].map(sigma)
        u = z.groupby(sub["prov_code"]).mean()
        w = z - sub["prov_code"].map(u)
        phi = float(u.var(ddof=0) / (z ** 2).mean())
        lagged = sub.assign(w=w).set_index(["prov_code", "year"])["w"]
        prev = lagged.reindex(list(zip(lagged.index.get_level_values(0), lagged.index.get_level_values(1) - 1)))
        pair = np.isfinite(prev.to_numpy())
        rho = float(np.corrcoef(lagged.to_numpy()[pair], prev.to_numpy()[pair])[0, 1])
        yrs = mu.index.to_numpy(dtype="float64")
        slope, intercept = np.polyfit(yrs - YEARS[0], mu.to_numpy(), 1)
        stats[var] = {
            "scale": scale, "years": [int(y) for y in mu.index],
            "mu": [round(float(v), 6) for v in mu], "sigma": [round(float(v), 6) for v in sigma],
            "trend": {"intercept": round(float(intercept), 6), "slope_per_year": round(float(slope), 6),
                      "base_year": YEARS[0]},
            "phi": round(phi, 4), "rho": round(rho, 4),
            "level_mean": [round(float(v), 6) for v in level],
            "cells": int(ok.sum()), "dropped_nonpositive": int((~ok & df[var].notna().to_numpy()).sum()),
        }
        effects[var] = u.reindex(provs).to_numpy()
    names = list(SCALES)
    mat = np.column_stack([effects[v] for v in names] + [dist.reindex(provs).to_numpy()])
    corr = np.ma.corrcoef(np.ma.masked_invalid(mat), rowvar=False).filled(np.nan)
    # first stage of the Hangzhou-distance instrument (two-way within slope)
    sub = df[["prov_code", "year", "dfi_index", "iv_dist_trend"]].dropna()
    wy = _within(np.log(sub["dfi_index"]), sub["prov_code"], sub["year"])[:, 0]
    wx = _within(sub["iv_dist_trend"], sub["prov_code"], sub["year"])[:, 0]
    pi = float(wx @ wy / (wx @ wx))
    return {
        "note": "Summary statistics of the real province series (no data rows); written by scripts/calibrate.py",
        "years": list(YEARS),
        "inputs": {Path(k).name: v for k, v in panel.files.items()},
        "variables": stats,
        "assumed": ASSUMED,
        "between_corr": {"variables": names + ["dist_hangzhou"],
                         "matrix": [[round(float(c), 4) for c in row] for row in corr]},
        "first_stage": {"outcome": "log(dfi_index)", "instrument": "iv_dist_trend", "slope": pi,
                        "note": "two-way within OLS slope, 2011-2023"},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=REPO / "data" / "calibration.json")
    args = ap.parse_args(argv)
    if not args.data_dir.is_dir():
        print(f"error: data folder {args.data_dir} not found", file=sys.stderr)
        return 2
    doc = calibrate(args.data_dir)
    from fiproxy.pipeline.atomic import write_json

    write_json(args.out, doc)
    print(f"wrote {args.out} ({len(doc['variables'])} calibrated, {len(doc['assumed'])} assumed variables)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
