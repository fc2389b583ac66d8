"""Small simulated panels for the estimator property, guard and reproducibility tests (no real data)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def province_panel(n_units: int = 10, n_years: int = 8, seed: int = 0) -> pd.DataFrame:
    """Balanced ``prov_code`` x ``year`` panel: regressors ``x``, ``z``, instrument ``zi`` of ``x``, mediator
    ``m``, threshold variable ``q`` (slope of ``x`` 0.5 below 5, 1.5 above), weights ``w``, outcome ``y``
    with unit effects."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame([(11 + i, 2010 + t) for i in range(n_units) for t in range(n_years)], columns=["prov_code", "year"])
    n = len(d)
    d["x"] = rng.normal(size=n)
    d["z"] = rng.normal(size=n)
    d["zi"] = d.x + rng.normal(size=n)
    d["m"] = 0.6 * d.x + rng.normal(size=n)
    d["q"] = rng.uniform(0, 10, n)
    d["w"] = rng.uniform(0.5, 2.0, n)
    unit = rng.normal(size=n_units)[d.prov_code - 11]
    d["y"] = np.where(d.q < 5, 0.5, 1.5) * d.x + 0.5 * d.z + 0.4 * d.m + unit + rng.normal(size=n)
    return d


def staggered_panel(units: int = 30, years: int = 6, seed: int = 2) -> pd.DataFrame:
    """Staggered adoption: cohorts 2003, 2004 and never treated (0), effect 1, covariate ``xc``."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice([0, 2003, 2004], size=units)
    d = pd.DataFrame([(i, 2001 + t) for i in range(units) for t in range(years)], columns=["unit", "year"])
    d["g"] = cohort[d.unit]
    d["xc"] = rng.normal(size=len(d))
    d["y"] = (rng.normal(size=units)[d.unit] + 0.1 * (d.year - 2001) + np.where((d.g > 0) & (d.year >= d.g), 1.0, 0.0)
              + rng.normal(size=len(d)))
    return d
