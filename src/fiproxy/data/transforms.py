"""The registry of panel transformations (one code path for every derived column).

Each transformation reads a province x year frame (columns ``prov_code``, ``year`` and the
variables) and returns a Series aligned with it. Lags, leads and growth rates look up the
same province in year t -/+ k by key, so a missing year gives a missing value rather than a
value from the wrong year. Nothing is imputed: an undefined result (log of a non-positive
number, division by zero) is missing, and the assembly reports it as a gap.

Names and their default output column (used by ``build_panel(derive=[...])``):

========================  ==================================  =====================
``log(x)``                natural logarithm                    ``ln_x``
``per_capita(x[, f])``    x / population x f                   ``x_pc``
``ratio_to_gdp(x)``       x / gdp                              ``x_gdp``
``growth(x)``             x_t / x_{t-1} - 1                    ``x_growth``
``lag(x[, k])``           x_{t-k}                              ``x_lag{k}``
``lead(x[, k])``          x_{t+k}                              ``x_lead{k}``
``deflate(x)``            x / (price_index / 100)              ``x_real``
``scale(x, c)``           c x (unit changes, percent -> share) ``x_x{c}``
``times_trend(x, t0)``    x (year - t0)                        ``x_trend``
========================  ==================================  =====================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

__all__ = ["Transform", "TRANSFORMS", "apply_transform", "default_name", "PRICE_INDEX"]

PRICE_INDEX = "price_index"


@dataclass(frozen=True)
class Transform:
    name: str
    fn: Callable[..., pd.Series]
    arity: tuple[int, int]  # min, max number of arguments
    needs: tuple[str, ...]  # extra frame columns it reads (population, gdp, price_index)
    describe: str


def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].to_numpy(dtype="float64", na_value=np.nan)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    out[~np.isfinite(out)] = np.nan
    return out


def _shift(frame: pd.DataFrame, col: str, k: int) -> np.ndarray:
    """Value of ``col`` for the same province in year ``year - k`` (NaN where that row is absent)."""
    s = pd.Series(_num(frame, col), index=pd.MultiIndex.from_arrays([frame["prov_code"], frame["year"]]))
    if not s.index.is_unique:
        raise ValueError(f"cannot shift {col!r}: duplicate (prov_code, year) keys")
    target = pd.MultiIndex.from_arrays([frame["prov_code"].to_numpy(), frame["year"].to_numpy() - k])
    return s.reindex(target).to_numpy()


def _log(frame, x):
    v = _num(frame, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(np.where(v > 0, v, np.nan))
    return out


def _per_capita(frame, x, factor=1.0):
    return _safe_div(_num(frame, x), _num(frame, "population")) * float(factor)


def _ratio_to_gdp(frame, x):
    return _safe_div(_num(frame, x), _num(frame, "gdp"))


def _growth(frame, x):
    return _safe_div(_num(frame, x), _shift(frame, x, 1)) - 1.0


def _lag(frame, x, k=1):
    return _shift(frame, x, int(k))


def _lead(frame, x, k=1):
    return _shift(frame, x, -int(k))


def _deflate(frame, x):
    return _safe_div(_num(frame, x), _num(frame, PRICE_INDEX) / 100.0)


def _scale(frame, x, c):
    return _num(frame, x) * float(c)


def _times_trend(frame, x, base_year):
    return _num(frame, x) * (frame["year"].to_numpy(dtype="float64") - float(base_year))


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("log", _log, (1, 1), (), "natural log (missing where the value is not positive)"),
        Transform("per_capita", _per_capita, (1, 2), ("population",), "divided by population (times factor)"),
        Transform("ratio_to_gdp", _ratio_to_gdp, (1, 1), ("gdp",), "divided by nominal GDP of the same province-year"),
        Transform("growth", _growth, (1, 1), (), "growth rate x_t / x_{t-1} - 1 within province"),
        Transform("lag", _lag, (1, 2), (), "value k years earlier, same province"),
        Transform("lead", _lead, (1, 2), (), "value k years later, same province"),
        Transform("deflate", _deflate, (1, 1), (PRICE_INDEX,), "divided by the supplied price index / 100"),
        Transform("scale", _scale, (2, 2), (), "multiplied by a constant (unit change)"),
        Transform("times_trend", _times_trend, (2, 2), (), "multiplied by years since a base year"),
    )
}


def _check_call(name: str, args: tuple) -> Transform:
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transformation {name!r}; known: {', '.join(sorted(TRANSFORMS))}")
    t = TRANSFORMS[name]
    lo, hi = t.arity
    if not lo <= len(args) <= hi:
        raise ValueError(f"{name}() takes {lo}{'' if lo == hi else f'-{hi}'} argument(s), got {len(args)}: {args!r}")
    if not isinstance(args[0], str):
        raise ValueError(f"{name}(): the first argument must be a variable name, got {args[0]!r}")
    if any(isinstance(a, str) for a in args[1:]):
        raise ValueError(f"{name}(): only the first argument is a variable; the rest are numbers, got {args!r}")
    if name in ("lag", "lead") and len(args) > 1 and not (float(args[1]) == int(args[1]) and int(args[1]) >= 1):
        raise ValueError(f"{name}(): the number of years must be a whole number >= 1, got {args[1]!r}")
    return t


def apply_transform(frame: pd.DataFrame, name: str, args: tuple) -> pd.Series:
    """Evaluate transformation ``name(*args)`` on ``frame``; returns a float Series aligned with it."""
    t = _check_call(name, args)
    for col in (args[0], *t.needs):
        if col not in frame.columns:
            what = "the price index (pass deflator=...)" if col == PRICE_INDEX else f"column {col!r}"
            raise KeyError(f"{name}({', '.join(map(str, args))}) needs {what}, which the panel does not have")
    return pd.Series(t.fn(frame, *args), index=frame.index, dtype="float64")


def default_name(name: str, args: tuple) -> str:
    """Output column name for a requested derivation, e.g. lag(x, 2) -> ``x_lag2``."""
    _check_call(name, args)
    x = args[0]
    if name == "log":
        return f"ln_{x}"
    if name == "per_capita":
        return f"{x}_pc"
    if name == "ratio_to_gdp":
        return f"{x}_gdp"
    if name in ("lag", "lead"):
        return f"{x}_{name}{int(args[1]) if len(args) > 1 else 1}"
    if name == "deflate":
        return f"{x}_real"
    if name == "scale":
        return f"{x}_x{args[1]:g}".replace(".", "p").replace("-", "m")
    if name == "times_trend":
        return f"{x}_trend"
    return f"{x}_{name}"
