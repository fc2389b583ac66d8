"""SIMULATED large panels: county-size and firm/bank-branch-size data for scale tests.

The embedded province panel has 403 rows; research designs at the county
(about 2,800 units), bank-branch or firm level have from tens of thousands to
millions of rows. :func:`simulate_large_panel` generates such a panel with a
known effect, cheaply (vectorised, float64 values and compact integer keys):

* ``unit`` (int32) x ``year`` (int16), balanced, ``n_periods`` years from 2011;
* ``county`` (int32): units are grouped into ``n_counties`` counties
  (``unit % n_counties``), the clustering level of a firm panel; for a county
  panel ``unit`` is the county itself;
* ``bank`` (int32): a third, non-nested fixed effect that varies within a unit
  over time (the lending bank of a firm-year, drawn at random among ``n_banks``);
* ``dfi`` (float64): a digital-finance proxy with unit, county-trend and year components;
* ``ln_gdp_pc`` (float64): a control correlated with ``dfi``;
* ``y`` (float64): ``effect * dfi + 0.3 * ln_gdp_pc + unit + year + bank effects + county-correlated noise``.

The true coefficient of ``dfi`` is ``effect`` in every fixed-effect model that
absorbs at least ``unit + year`` (and ``bank`` when included). The frame's
``attrs`` carry ``label`` (starting with SIMULATED), ``truth`` and the seed.
All values are synthetic; no real data are involved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["simulate_large_panel", "simulate_county_panel", "COUNTY_COUNT"]

# county-level divisions of mainland China (order of magnitude used for the county-size panel)
COUNTY_COUNT = 2800


def simulate_large_panel(n_units: int, n_periods: int = 13, *, n_counties: int = COUNTY_COUNT,
                         n_banks: int = 100, effect: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """A SIMULATED balanced panel of ``n_units * n_periods`` rows (see the module docstring)."""
    for name, v in (("n_units", n_units), ("n_periods", n_periods), ("n_counties", n_counties),
                    ("n_banks", n_banks)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if n_periods < 2:
        raise ValueError("a panel needs n_periods >= 2")
    rng = np.random.default_rng(seed)
    n = int(n_units) * int(n_periods)
    unit = np.repeat(np.arange(n_units, dtype=np.int32), n_periods)
    t = np.tile(np.arange(n_periods, dtype=np.int16), n_units)
    county = (unit % min(n_counties, n_units)).astype(np.int32)
    bank = rng.integers(0, n_banks, size=n, dtype=np.int32)
    a_unit = rng.normal(size=n_units)
    trend_county = rng.normal(0.25, 0.05, size=min(n_counties, n_units))
    year_eff = np.linspace(0.0, 1.0, n_periods) + rng.normal(0.0, 0.05, n_periods)
    bank_eff = rng.normal(0.0, 0.5, n_banks)
    dfi = 0.5 * a_unit[unit] + trend_county[county] * t + year_eff[t] + rng.normal(size=n)
    ln_gdp_pc = 0.4 * dfi + rng.normal(size=n)
    shock_county = rng.normal(0.0, 0.3, size=(min(n_counties, n_units), n_periods))
    y = (effect * dfi + 0.3 * ln_gdp_pc + a_unit[unit] + 2.0 * year_eff[t] + bank_eff[bank]
         + shock_county[county, t] + rng.normal(size=n))
    df = pd.DataFrame({"unit": unit, "year": (t + 2011).astype(np.int16), "county": county, "bank": bank,
                       "dfi": dfi, "ln_gdp_pc": ln_gdp_pc, "y": y}, copy=False)
    df.attrs.update(label=f"SIMULATED large panel ({n_units:,} units x {n_periods} years, seed {seed})",
                    simulated=True, truth={"dfi": effect, "ln_gdp_pc": 0.3}, seed=seed)
    return df


def simulate_county_panel(seed: int = 0, n_periods: int = 13, **kwargs) -> pd.DataFrame:
    """A SIMULATED county-size panel: ``COUNTY_COUNT`` counties x ``n_periods`` years (``unit`` = county)."""
    df = simulate_large_panel(COUNTY_COUNT, n_periods, n_counties=COUNTY_COUNT, seed=seed, **kwargs)
    df.attrs["label"] = f"SIMULATED county panel ({COUNTY_COUNT:,} counties x {n_periods} years, seed {seed})"
    return df
