"""Spatial panel models with fixed effects by maximum likelihood: SAR, SEM, SDM.

``spatial_panel`` fits, on a balanced panel with N units and T periods,

- SAR (spatial lag):    y = ρWy + Xβ + μ + α + ε
- SDM (spatial Durbin): y = ρWy + Xβ + WXθ + μ + α + ε
- SEM (spatial error):  y = Xβ + μ + α + u,  u = λWu + ε

with unit effects μ, period effects α or both, by the ML "direct approach"
of Elhorst (2014, *Spatial Econometrics: From Cross-Sectional Data to Spatial
Panels*, ch. 3) and, by default, the bias correction of Lee & Yu (2010,
*Journal of Econometrics* 154: 165–185). Direct, indirect and total effects
(LeSage & Pace 2009) are reported with delta-method and simulated standard
errors that use the full covariance of (β, θ, ρ).

See :mod:`fiproxy.estimators.spatial_ml` (likelihood, information matrix,
Lee–Yu), :mod:`fiproxy.estimators.spatial_effects` (effects) and
:mod:`fiproxy.estimators.spatial_weights` (weights).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from fiproxy.estimators.call_order import require_formula_first
from fiproxy.estimators.result import Result
from fiproxy.estimators.spatial_data import model_arrays, prepare_spatial_panel
from fiproxy.estimators.spatial_effects import (
    EffectsModel,
    effects_delta,
    effects_simulation,
    effects_table,
)
from fiproxy.estimators.spatial_ml import fit_error, fit_lag, lee_yu_correct

__all__ = ["spatial_panel"]

_MODELS = ("sar", "sem", "sdm")


def spatial_panel(
    formula: str,
    data: pd.DataFrame,
    W,
    *,
    model: str = "sdm",
    fe: str | None = None,
    unit: str = "prov_code",
    time: str = "year",
    durbin: Sequence[str] | None = None,
    lee_yu: bool = True,
    effects: bool = True,
    effects_se: str = "simulation",
    draws: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Result:
    """Fixed-effects spatial panel model (SAR, SEM or SDM) by maximum likelihood.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2"`` or with fixed effects ``"y ~ x1 + x2 | prov_code + year"``.
        Plain column names only.
    data : DataFrame
        Long panel with ``unit`` and ``time`` columns; must be balanced (every
        unit in every period, no missing values in the model's columns).
    W : SpatialWeights or DataFrame
        Weights whose unit ids equal the panel's units (any order). Period
        effects need a row-standardized W.
    model : {"sdm", "sar", "sem"}
    unit, time : str
        Columns identifying the cross-sectional unit and the period.
    fe : {"twoway", "individual", "time", "none"}, optional
        Fixed effects (default: from the formula, else ``"twoway"``).
    durbin : list of str, optional
        SDM only: regressors that get a spatial lag (default all).
    lee_yu : bool
        Apply the Lee–Yu (2010) bias correction (σ² for unit effects; β, ρ, σ²
        for period effects). The reported ``loglik`` is the maximized
        likelihood before the correction.
    effects : bool
        Compute direct/indirect/total effects (``extra["effects"]``).
    effects_se : {"simulation", "delta"}
        Which standard errors fill ``extra["effects"]``; both are kept in
        ``extra["effects_simulation"]`` and ``extra["effects_delta"]``.
    draws, seed : int
        Parametric simulation draws and seed for the effects.
    level : float
        Confidence level of the effect intervals.

    Returns
    -------
    Result
        ``model="spatial-sar" | "spatial-sem" | "spatial-sdm"``; params are β,
        θ (named ``W*x``) and ``rho`` (SAR/SDM) or ``lambda`` (SEM); normal
        reference distribution; ``stats`` has ``loglik``, ``rho``/``lambda``,
        ``sigma2``, ``aic``, ``bic``, ``fe``, ``lee_yu``, ``N``, ``T``;
        ``extra["vcov_full"]`` includes σ².
    """
    require_formula_first("spatial_panel", formula, data, ", W")
    model = str(model).lower()
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    if effects_se not in ("simulation", "delta"):
        raise ValueError(f"effects_se must be 'simulation' or 'delta', got {effects_se!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if durbin is not None and model != "sdm":
        raise ValueError("durbin= applies to model='sdm' only")
    panel = prepare_spatial_panel(data, formula, W, unit=unit, time=time, fe=fe)
    fe_kind, N, T = panel.fe, panel.N, panel.T
    xs = list(panel.regressors)
    if model == "sdm":
        lagged = xs if durbin is None else list(durbin)
        unknown = [v for v in lagged if v not in xs]
        if unknown:
            raise ValueError(f"durbin variables {unknown} are not regressors of the formula {xs}")
        didx = tuple(xs.index(v) for v in lagged)
    else:
        didx = ()
    arr = model_arrays(panel, didx, lag_design=(model == "sem"))
    y, wy, Z, WZ, names = arr["y"], arr["wy"], arr["Z"], arr["WZ"], arr["names"]
    const = fe_kind == "none"
    p = Z.shape[1]

    fit = fit_error(y, wy, Z, WZ, panel.W, T) if model == "sem" else fit_lag(y, wy, Z, panel.W, T)
    loglik = fit.loglik
    if lee_yu:
        fit = lee_yu_correct(fit, fe_kind, Z, WZ, panel.W, T)
    sp_name = "lambda" if model == "sem" else "rho"
    pnames = names + [sp_name]
    full_names = pnames + ["sigma2"]
    vcov_full = pd.DataFrame(fit.vcov, index=full_names, columns=full_names)
    params = pd.Series(np.concatenate([fit.coef, [fit.rho]]), index=pnames, name="estimate")
    vcov = vcov_full.iloc[:-1, :-1]
    n_par = len(full_names)
    NT = N * T
    stats = {
        "loglik": loglik,
        sp_name: fit.rho,
        "sigma2": fit.sigma2,
        "aic": -2 * loglik + 2 * n_par,
        "bic": -2 * loglik + np.log(NT) * n_par,
        "fe": fe_kind,
        "lee_yu": bool(lee_yu and fe_kind != "none"),
        "N": N,
        "T": T,
    }
    extra: dict = {"vcov_full": vcov_full, "units": panel.units, "periods": panel.periods,
                   "residuals": fit.resid, "weights": panel.W}
    if fit.bias is not None:
        extra["lee_yu_adjustment"] = pd.Series(fit.bias, index=full_names)
    warnings: list[str] = []
    if effects:
        off = 1 if const else 0
        if model == "sem":
            k = len(xs)
            b = fit.coef[off:off + k]
            se_b = np.sqrt(np.diag(fit.vcov)[off:off + k])
            est = np.column_stack([b, np.zeros(k), b])
            se = np.column_stack([se_b, np.zeros(k), se_b])
            tab = effects_table(xs, est, se, level=level)
            extra["effects"] = extra["effects_delta"] = tab
        else:
            sel = list(range(off, p)) + [p]
            em = EffectsModel(params.to_numpy()[sel], vcov.to_numpy()[np.ix_(sel, sel)], tuple(xs), didx, panel.W)
            est, se_d = effects_delta(em)
            extra["effects_delta"] = effects_table(xs, est, se_d, level=level)
            if draws > 0:
                est, se_s, lo, hi, kept = effects_simulation(em, draws=draws, seed=seed, level=level)
                extra["effects_simulation"] = effects_table(xs, est, se_s, lo, hi, level=level)
                stats["effects_draws"] = kept
                if kept < draws:
                    warnings.append(f"{draws - kept} of {draws} effect draws had rho outside the stationary interval and were dropped")
            extra["effects"] = extra["effects_simulation" if (effects_se == "simulation" and draws > 0) else "effects_delta"]
    spec = {
        "formula": formula,
        "model": model,
        "fe": fe_kind,
        "unit": unit,
        "time": time,
        "durbin": [xs[j] for j in didx] if model == "sdm" else None,
        "lee_yu": lee_yu,
        "weights": {"kind": panel.W.kind, "n": N, "transform": panel.W.transform, **panel.W.info},
        "effects_se": effects_se,
        "draws": draws,
        "seed": seed,
        "outcome": panel.depvar,
    }
    label = "ML information matrix (Elhorst 2014)" + (", at Lee–Yu corrected estimates" if stats["lee_yu"] else "")
    return Result(params=params, vcov=vcov, nobs=NT, model=f"spatial-{model}", spec=spec, df_t=None,
                  vcov_type=label, stats=stats, warnings=tuple(warnings), extra=extra)
