"""Tests for spatial dependence in panels: Moran's I and Lagrange-multiplier tests.

``morans_i``
    Global Moran's I (Moran 1950; Cliff & Ord 1981, *Spatial Processes*)
    ``I = (n/S0) z'Wz / z'z`` of a variable centred within each period, for
    every period and pooled over periods (block-diagonal ``I_T ⊗ W``).
    Inference: the normal approximation with the exact moments of I under
    normality (Cliff & Ord 1981, eq. for regression residuals with the
    centring projection M: ``E = (n/S0) tr(MW)/(n-1)``,
    ``Var = (n/S0)² [tr(MWMW') + tr(MWMW) + tr(MW)²] / ((n-1)(n+1)) - E²``;
    per period only), and a permutation test: values permuted across units
    within each period, seeded, all permutations evaluated in one vectorized
    product; the two-sided pseudo p-value is
    ``min(1, 2 min(#{I* ≥ I} + 1, #{I* ≤ I} + 1) / (R + 1))``.

``lm_tests``
    LM-lag, LM-error and their robust forms (Anselin 1988; Anselin, Bera,
    Florax & Yoon 1996) for the fixed-effects panel, on the residuals of the
    within (FE) regression, in the panel form of Elhorst (2014, *Spatial
    Econometrics*, sec. 3.5; also Debarsy & Ertur 2010, *Regional Science and
    Urban Economics* 40: 453–470)::

        LM_lag   = (e'(I⊗W)y/σ²)² / J         LM_error = (e'(I⊗W)e/σ²)² / (T·T_W)
        J = [((I⊗W)Xb)' M ((I⊗W)Xb) + T·T_W σ²] / σ²,   T_W = tr(WW + W'W),  σ² = e'e/NT
        robust LM_lag   = (e'(I⊗W)y/σ² - e'(I⊗W)e/σ²)² / (J - T·T_W)
        robust LM_error = (e'(I⊗W)e/σ² - (T·T_W/J) e'(I⊗W)y/σ²)² / (T·T_W (1 - T·T_W/J))

    each χ²(1) under the null.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fiproxy.estimators.call_order import require_formula_first
from fiproxy.estimators.spatial_data import balanced_wide, model_arrays, panel_frame, prepare_spatial_panel
from fiproxy.estimators.spatial_weights import SpatialWeights

__all__ = ["morans_i", "lm_tests"]


def _moran_moments(W: np.ndarray) -> tuple[float, float]:
    """Mean and variance of Moran's I of a centred normal vector (Cliff & Ord 1981)."""
    n = W.shape[0]
    s0 = W.sum()
    MW = W - W.mean(axis=0, keepdims=True)  # M W with M = I - ιι'/n
    MWM = MW - MW.mean(axis=1, keepdims=True)  # M W M
    tr_mw = np.trace(MW)
    e = tr_mw / (n - 1)
    v = (np.sum(MWM * MWM) + np.sum(MWM * MWM.T) + tr_mw**2) / ((n - 1) * (n + 1)) - e**2
    c = n / s0
    return c * e, c * c * v


def _pseudo_p(obs: float, perm: np.ndarray) -> float:
    R = len(perm)
    hi = np.sum(perm >= obs) + 1
    lo = np.sum(perm <= obs) + 1
    return float(min(1.0, 2 * min(hi, lo) / (R + 1)))


def morans_i(
    data: pd.DataFrame,
    column: str,
    W: SpatialWeights | pd.DataFrame,
    *,
    unit: str = "prov_code",
    time: str = "year",
    permutations: int = 999,
    seed: int = 0,
) -> pd.DataFrame:
    """Global Moran's I of ``column`` for every period and pooled.

    The variable is centred within each period (the pooled statistic thus
    measures cross-sectional clustering, not a common trend). Needs a
    balanced panel; W must have exactly the panel's units.

    Returns a DataFrame indexed by period plus ``"pooled"`` with columns
    ``I``, ``expected``, ``z_norm``, ``p_norm`` (normal approximation; per
    period only), ``perm_mean``, ``perm_sd``, ``z_perm``, ``p_perm``
    (two-sided pseudo p-value) and ``n``.
    """
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    frame = panel_frame(data, [column], unit=unit, time=time)
    W, wide, units, periods = balanced_wide(frame, [column], W, unit=unit, time=time)
    N, T = len(units), len(periods)
    Y = wide[column].to_numpy(dtype=float).reshape(N, T).T  # (T, N), units in W's order
    Z = Y - Y.mean(axis=1, keepdims=True)
    Wd = W.dense()
    s0 = Wd.sum()
    zz = np.einsum("tn,tn->t", Z, Z)
    if np.any(zz == 0):
        raise ValueError(f"{column!r} does not vary across units in periods {[periods[t] for t in np.flatnonzero(zz == 0)]}")
    zwz = np.einsum("tn,tn->t", Z @ Wd.T, Z)
    I_t = N / s0 * zwz / zz
    I_pool = N / s0 * zwz.sum() / zz.sum()
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((T, permutations, N)), axis=2)
    Zp = np.take_along_axis(np.broadcast_to(Z[:, None, :], order.shape), order, axis=2)  # (T, R, N)
    num = np.einsum("trn,trn->tr", Zp @ Wd.T, Zp)
    perm_t = N / s0 * num / zz[:, None]
    perm_pool = N / s0 * num.sum(axis=0) / zz.sum()
    e, v = _moran_moments(Wd)
    rows = []
    for t in range(T):
        pm, ps = perm_t[t].mean(), perm_t[t].std(ddof=1)
        zn = (I_t[t] - e) / np.sqrt(v)
        rows.append((periods[t], I_t[t], e, zn, 2 * stats.norm.sf(abs(zn)), pm, ps,
                     (I_t[t] - pm) / ps, _pseudo_p(I_t[t], perm_t[t]), N))
    pm, ps = perm_pool.mean(), perm_pool.std(ddof=1)
    rows.append(("pooled", I_pool, e, np.nan, np.nan, pm, ps, (I_pool - pm) / ps, _pseudo_p(I_pool, perm_pool), N * T))
    out = pd.DataFrame(rows, columns=[time, "I", "expected", "z_norm", "p_norm", "perm_mean", "perm_sd",
                                      "z_perm", "p_perm", "n"]).set_index(time)
    out.attrs.update({"variable": column, "permutations": permutations, "seed": seed,
                      "centering": "within period", "weights": W.kind})
    return out


def lm_tests(
    formula: str,
    data: pd.DataFrame,
    W: SpatialWeights | pd.DataFrame,
    *,
    fe: str | None = None,
    unit: str = "prov_code",
    time: str = "year",
) -> pd.DataFrame:
    """LM-lag, LM-error and robust LM tests on the residuals of the FE regression.

    ``formula``/``fe`` as in :func:`fiproxy.estimators.spatial.spatial_panel`
    (default two-way effects). Returns a DataFrame indexed by
    ``LM_lag``, ``robust_LM_lag``, ``LM_error``, ``robust_LM_error`` with
    ``stat``, ``df`` (1) and ``p``; ``attrs`` hold σ² and the fixed effects.
    """
    require_formula_first("lm_tests", formula, data, ", W")
    panel = prepare_spatial_panel(data, formula, W, unit=unit, time=time, fe=fe)
    arr = model_arrays(panel)
    y, Z = arr["y"], arr["Z"]
    N, T = panel.N, panel.T
    NT = N * T
    b, *_ = np.linalg.lstsq(Z, y, rcond=None)
    e = y - Z @ b
    s2 = e @ e / NT
    Wd = panel.W.dense()
    tw = float(np.sum(Wd * Wd.T) + np.sum(Wd * Wd))  # tr(WW) + tr(W'W)
    ttw = T * tw
    ewy = e @ panel.lag(y) / s2
    ewe = e @ panel.lag(e) / s2
    wxb = panel.lag(Z @ b)
    mwxb = wxb - Z @ np.linalg.lstsq(Z, wxb, rcond=None)[0]
    J = (wxb @ mwxb + ttw * s2) / s2
    stat = {
        "LM_lag": ewy**2 / J,
        "robust_LM_lag": (ewy - ewe) ** 2 / (J - ttw),
        "LM_error": ewe**2 / ttw,
        "robust_LM_error": (ewe - ttw / J * ewy) ** 2 / (ttw * (1 - ttw / J)),
    }
    out = pd.DataFrame({"stat": pd.Series(stat), "df": 1})
    out["p"] = stats.chi2.sf(out["stat"], 1)
    out.attrs.update({"sigma2": float(s2), "fe": panel.fe, "N": N, "T": T})
    return out
