"""Balanced spatial panels: formula, balance checks, weights alignment, within transformation.

Spatial panel estimators and tests need every unit in every period, rows in
the order of the weights matrix, and the fixed effects removed with the one
fiproxy code path (:func:`fiproxy.estimators.demean.demean`). Observations are
stacked period by period (all N units of the first period, then the second …),
as in Elhorst (2014, *Spatial Econometrics: From Cross-Sectional Data to
Spatial Panels*, ch. 3), so that the spatial lag of a stacked vector is
``(I_T ⊗ W) v``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fiproxy.estimators.demean import demean, factorize_fe
from fiproxy.estimators.spatial_weights import SpatialWeights, as_weights

__all__ = [
    "SpatialPanel", "prepare_spatial_panel", "model_arrays", "period_lag", "panel_frame", "balanced_wide",
    "parse_spatial_formula", "resolve_fe", "UnbalancedPanelError",
]

_FE_ALIASES = {
    "individual": "individual", "unit": "individual", "entity": "individual", "spatial": "individual",
    "time": "time", "period": "time",
    "twoway": "twoway", "two-way": "twoway", "both": "twoway",
    "none": "none", None: "none", "pooled": "none",
}
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


class UnbalancedPanelError(ValueError):
    """The panel is not balanced (some unit lacks some period or has missing values)."""


def resolve_fe(fe: str | None) -> str:
    """Canonical fixed-effects label: ``individual``, ``time``, ``twoway`` or ``none``."""
    key = fe.lower() if isinstance(fe, str) else fe
    if key not in _FE_ALIASES:
        raise ValueError(f"fe must be one of 'individual', 'time', 'twoway', 'none'; got {fe!r}")
    return _FE_ALIASES[key]


def parse_spatial_formula(formula: str, unit: str, time: str) -> tuple[str, list[str], str | None]:
    """``"y ~ x1 + x2 [| unit + time]"`` → (depvar, regressors, fe or None).

    Only plain column names are allowed (transform variables beforehand);
    the fixed-effect part may name ``unit``, ``time`` or both.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ValueError(f"formula must look like 'y ~ x1 + x2 | {unit} + {time}', got {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~"))
    parts = [p.strip() for p in rhs.split("|")]
    if len(parts) > 2:
        raise ValueError(f"formula {formula!r}: at most one '|' (the fixed effects) is allowed")
    xs = [t.strip() for t in parts[0].split("+") if t.strip()]
    for name in [lhs, *xs]:
        if not _NAME.match(name):
            raise ValueError(
                f"formula term {name!r} is not a plain column name; spatial_panel accepts "
                "'y ~ x1 + x2' only (create transformed columns first)"
            )
    if not xs:
        raise ValueError(f"formula {formula!r} has no regressors")
    if len(set(xs)) != len(xs):
        raise ValueError(f"formula {formula!r} repeats a regressor")
    fe = None
    if len(parts) == 2:
        fes = {t.strip() for t in parts[1].split("+") if t.strip()}
        unknown = fes - {unit, time}
        if unknown or not fes:
            raise ValueError(
                f"fixed effects {sorted(unknown) or parts[1]!r} in {formula!r}: spatial panels take the unit "
                f"({unit!r}) and/or time ({time!r}) effects only"
            )
        fe = "twoway" if fes == {unit, time} else ("individual" if fes == {unit} else "time")
    return lhs, xs, fe


def _check_columns(data: pd.DataFrame, cols: list[str]) -> None:
    for c in cols:
        if c not in data.columns:
            names = [str(x) for x in data.columns]
            close = difflib.get_close_matches(str(c), names, n=3, cutoff=0.5)
            hint = f"; did you mean {close}?" if close else f"; available: {names[:20]}"
            raise KeyError(f"column {c!r} not found in the data{hint}")


def panel_frame(data: pd.DataFrame, cols: list[str], *, unit: str, time: str) -> pd.DataFrame:
    """The ``unit``, ``time`` and ``cols`` columns, checked: present, keys complete and unique."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    _check_columns(data, [unit, time, *cols])
    frame = data[[unit, time, *cols]]
    keys = frame[[unit, time]]
    if keys.isna().any().any():
        raise ValueError(f"the unit ({unit!r}) or time ({time!r}) column has missing values")
    dup = keys.duplicated(keep=False)
    if dup.any():
        ex = keys[dup].drop_duplicates().head(5).to_records(index=False).tolist()
        raise ValueError(f"{int(dup.sum())} rows share a ({unit}, {time}) pair, e.g. {ex}; one row per unit and period is required")
    return frame


def balanced_wide(frame: pd.DataFrame, cols: list[str], W, *, unit: str, time: str):
    """Check balance and align W; returns (W aligned, frame indexed by (unit, time), units, periods).

    Raises :class:`UnbalancedPanelError` listing, per unit, the periods that
    lack a row or have missing values in ``cols``.
    """
    W = as_weights(W)
    units = sorted(frame[unit].unique().tolist())
    periods = sorted(frame[time].unique().tolist())
    W = W.align(units)
    wide = frame.set_index([unit, time])[cols].reindex(
        pd.MultiIndex.from_product([units, periods], names=[unit, time]))
    inf = np.isinf(wide.to_numpy(dtype=float, na_value=np.nan))
    if inf.any():
        where = wide.index[inf.any(axis=1)][:10].tolist()
        raise ValueError(f"infinite values in {cols} at ({unit}, {time}) {where}; e.g. log of zero — fix the data first")
    bad = wide.isna().any(axis=1)
    if bad.any():
        gaps = bad[bad].reset_index()[[unit, time]]
        per_unit = gaps.groupby(unit)[time].apply(list)
        listing = "; ".join(f"{u}: {ts}" for u, ts in per_unit.head(15).items())
        more = "" if len(per_unit) <= 15 else f" … and {len(per_unit) - 15} more units"
        raise UnbalancedPanelError(
            f"spatial panel methods need a balanced panel without missing values: {len(per_unit)} unit(s) lack "
            f"rows or values of {cols} in some {time} ({unit}: [{time}s]): {listing}{more}. "
            "Restrict the sample to units observed in every period (and W with W.subset(units))"
        )
    return W, wide, units, periods


def period_lag(M: np.ndarray, v: np.ndarray, T: int) -> np.ndarray:
    """``(I_T ⊗ M) v`` for a vector or matrix ``v`` of N·T rows stacked by period."""
    v = np.asarray(v, dtype=float)
    N = M.shape[0]
    return np.einsum("ij,tjk->tik", M, v.reshape(T, N, -1)).reshape(v.shape)


@dataclass
class SpatialPanel:
    """A balanced panel stacked by period, aligned to its weights matrix."""

    y: np.ndarray            # (NT,)
    X: np.ndarray            # (NT, k)
    depvar: str
    regressors: list
    units: list
    periods: list
    W: SpatialWeights
    fe: str

    @property
    def N(self) -> int:
        return len(self.units)

    @property
    def T(self) -> int:
        return len(self.periods)

    def lag(self, v: np.ndarray) -> np.ndarray:
        """``(I_T ⊗ W) v`` for a stacked vector or matrix of NT rows."""
        return period_lag(self.W.dense(), v, self.T)

    def fe_codes(self) -> np.ndarray:
        """Integer codes of the fixed effects in the stacked order, shape (NT, m)."""
        t_code = np.repeat(np.arange(self.T), self.N)
        u_code = np.tile(np.arange(self.N), self.T)
        cols = {"individual": [u_code], "time": [t_code], "twoway": [u_code, t_code], "none": []}[self.fe]
        if not cols:
            return np.empty((self.N * self.T, 0), dtype=np.int64)
        return factorize_fe(np.column_stack(cols))

    def within(self, m: np.ndarray) -> np.ndarray:
        """Columns of ``m`` with the fixed effects removed (fiproxy's demean)."""
        out, _ = demean(np.asarray(m, dtype=float), self.fe_codes())
        return out


def prepare_spatial_panel(
    data: pd.DataFrame,
    formula: str,
    W,
    *,
    unit: str,
    time: str,
    fe: str | None,
) -> SpatialPanel:
    """Validate and arrange ``data`` for spatial panel estimation.

    Errors (never silent fixes): missing columns (with close names), duplicate
    unit-period rows, missing unit-period combinations or missing values
    (listing the units and periods concerned), weights whose units differ
    from the panel's.
    """
    depvar, xs, fe_formula = parse_spatial_formula(formula, unit, time)
    fe_arg = resolve_fe(fe) if fe is not None else None
    if fe_formula is not None and fe_arg is not None and fe_formula != fe_arg:
        raise ValueError(f"the formula implies fe={fe_formula!r} but fe={fe!r} was given")
    fe_final = fe_formula or fe_arg or "twoway"
    frame = panel_frame(data, [depvar, *xs], unit=unit, time=time)
    W, wide, units, periods = balanced_wide(frame, [depvar, *xs], W, unit=unit, time=time)
    if fe_final in ("time", "twoway") and not W.is_row_standardized:
        raise ValueError(
            "period fixed effects require a row-standardized W (the within transformation of Wy is valid only "
            "when Wι = ι); use W.row_standardize()"
        )
    stacked = wide.swaplevel().sort_index()  # period-major order
    return SpatialPanel(
        y=stacked[depvar].to_numpy(dtype=float),
        X=stacked[xs].to_numpy(dtype=float),
        depvar=depvar,
        regressors=xs,
        units=units,
        periods=periods,
        W=W,
        fe=fe_final,
    )


def model_arrays(panel: SpatialPanel, durbin: tuple = (), lag_design: bool = False) -> dict:
    """Within-transformed arrays of a spatial panel model.

    Returns ``y``, ``wy`` (the transformed ``(I⊗W)y``), ``Z`` (regressors,
    then the spatial lags of the regressors at positions ``durbin``, after a
    constant when there are no fixed effects), ``WZ`` (transformed
    ``(I⊗W)Z`` when ``lag_design``) and ``names``. Spatial lags are taken
    before the within transformation (for row-standardized W the two orders
    agree up to the transformation itself: ``J W = J W J``).
    Raises ``ValueError`` for regressors without within variation or a
    singular design.
    """
    xs = list(panel.regressors)
    X = panel.X
    Zraw = np.column_stack([X] + ([panel.lag(X[:, list(durbin)])] if durbin else []))
    names = xs + [f"W*{xs[j]}" for j in durbin]
    if panel.fe == "none":
        Zraw = np.column_stack([np.ones(len(panel.y)), Zraw])
        names = ["const"] + names
    p = Zraw.shape[1]
    blocks = [panel.y[:, None], panel.lag(panel.y)[:, None], Zraw]
    if lag_design:
        blocks.append(panel.lag(Zraw))
    M = panel.within(np.column_stack(blocks))
    Z = M[:, 2:2 + p]
    for j, name in enumerate(names):
        scale = max(np.linalg.norm(Zraw[:, j]), 1.0)
        if np.linalg.norm(Z[:, j]) <= 1e-10 * scale:
            raise ValueError(f"regressor {name!r} has no variation left after the {panel.fe} fixed effects; drop it")
    if np.linalg.matrix_rank(Z) < p:
        raise ValueError(f"the regressors {names} are collinear after the {panel.fe} fixed effects (singular design)")
    return {"y": M[:, 0], "wy": M[:, 1], "Z": Z, "WZ": M[:, 2 + p:] if lag_design else None, "names": names}
