"""Maximum likelihood for fixed-effects spatial panels (SAR/SDM lag form, SEM error form).

Model (after the within transformation that removes unit and/or period
effects, observations stacked by period)::

    lag   (SAR, SDM):  y = ρ (I_T ⊗ W) y + Z β + ε          Z = [X] or [X, (I_T ⊗ W) X]
    error (SEM):       y = Z β + u,   u = λ (I_T ⊗ W) u + ε

with ε ~ N(0, σ² I). Estimation follows Elhorst (2014, *Spatial Econometrics:
From Cross-Sectional Data to Spatial Panels*, ch. 3): the log-likelihood is
concentrated in the spatial parameter, maximized on the interval where
``I - ρW`` is non-singular with ``log|I - ρW| = Σ log|1 - ρ ω_i|`` from the
eigenvalues ω of W (computed once), and the asymptotic covariance of
(β, ρ, σ²) is the inverse of the analytic information matrix.

Lee & Yu (2010, "Estimation of spatial autoregressive panel data models with
fixed effects", *Journal of Econometrics* 154: 165–185) show that this
"direct approach" is biased when period effects are present (order 1/N) and
for σ² when unit effects are present (order 1/T). :func:`lee_yu_correct`
applies their bias correction::

    period effects:  θ_c = θ̂ + T · I(θ̂)^-1 (0_k', 1/(1-ρ̂), 1/(2σ̂²))'
    unit effects:    σ²_c = T/(T-1) · σ²

(θ = (β', ρ, σ²)', I the information matrix of all NT observations; the
first line is ``θ̂ - B/N`` with ``B = -Σ^-1 a`` and ``Σ = I/(NT)``.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize_scalar

from fiproxy.estimators.spatial_data import period_lag
from fiproxy.estimators.spatial_weights import SpatialWeights

__all__ = ["MLFit", "log_det", "fit_lag", "fit_error", "lee_yu_correct", "information_lag", "information_error"]

_LN2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class MLFit:
    """Estimates of one spatial panel ML fit.

    ``coef`` are β (regressors of Z), ``rho`` the spatial lag or error
    coefficient, ``sigma2`` the innovation variance, ``loglik`` the maximized
    log-likelihood of the direct approach, ``info`` the information matrix of
    (β, ρ, σ²) at the reported estimates and ``vcov`` its inverse.
    """

    form: str
    coef: np.ndarray
    rho: float
    sigma2: float
    loglik: float
    info: np.ndarray
    vcov: np.ndarray
    resid: np.ndarray
    bias: np.ndarray | None = None


def log_det(eigvals: np.ndarray, rho: float | np.ndarray) -> float | np.ndarray:
    """``log|I - ρW| = Σ_i log|1 - ρ ω_i|`` for scalar or array ρ."""
    r = np.asarray(rho, dtype=float)
    val = np.log(np.abs(1.0 - r[..., None] * eigvals[None, :] if r.ndim else 1.0 - r * eigvals)).sum(axis=-1)
    return float(val) if r.ndim == 0 else val


def _solve_bounded(fun, lo: float, hi: float) -> float:
    eps = 1e-7 * (hi - lo)
    res = minimize_scalar(fun, bounds=(lo + eps, hi - eps), method="bounded", options={"xatol": 1e-12, "maxiter": 500})
    if not res.success:
        raise RuntimeError(f"maximization of the concentrated likelihood failed: {res.message}")
    x = float(res.x)
    if min(x - lo, hi - x) < 1e-5 * (hi - lo):
        raise RuntimeError(
            f"the spatial parameter estimate {x:.6f} is at the boundary of its admissible interval ({lo:.4f}, {hi:.4f}); "
            "the model is probably misspecified for these data"
        )
    return x


def _traces(W: SpatialWeights, rho: float) -> tuple[float, float, float, np.ndarray]:
    """tr(W̃), tr(W̃W̃), tr(W̃'W̃) and W̃ = W (I - ρW)^-1."""
    Wd = W.dense()
    A = np.eye(W.n) - rho * Wd
    Wt = np.linalg.solve(A.T, Wd.T).T  # W A^-1
    return float(np.trace(Wt)), float(np.sum(Wt * Wt.T)), float(np.sum(Wt * Wt)), Wt


def information_lag(Z: np.ndarray, coef: np.ndarray, rho: float, sigma2: float, W: SpatialWeights, T: int) -> np.ndarray:
    """Information matrix of (β, ρ, σ²) in the lag model (Elhorst 2014, ch. 3)."""
    N = W.n
    tr1, tr_ww, tr_wtw, Wt = _traces(W, rho)
    zb = Z @ coef
    wzb = period_lag(Wt, zb, T)
    k = Z.shape[1]
    out = np.zeros((k + 2, k + 2))
    out[:k, :k] = Z.T @ Z / sigma2
    out[:k, k] = out[k, :k] = Z.T @ wzb / sigma2
    out[k, k] = T * (tr_ww + tr_wtw) + wzb @ wzb / sigma2
    out[k, k + 1] = out[k + 1, k] = T * tr1 / sigma2
    out[k + 1, k + 1] = N * T / (2 * sigma2**2)
    return out


def information_error(Zs: np.ndarray, lam: float, sigma2: float, W: SpatialWeights, T: int) -> np.ndarray:
    """Information matrix of (β, λ, σ²) in the error model; ``Zs = Z - λ (I⊗W) Z``."""
    N = W.n
    tr1, tr_ww, tr_wtw, _ = _traces(W, lam)
    k = Zs.shape[1]
    out = np.zeros((k + 2, k + 2))
    out[:k, :k] = Zs.T @ Zs / sigma2
    out[k, k] = T * (tr_ww + tr_wtw)
    out[k, k + 1] = out[k + 1, k] = T * tr1 / sigma2
    out[k + 1, k + 1] = N * T / (2 * sigma2**2)
    return out


def _inv(info: np.ndarray) -> np.ndarray:
    try:
        v = np.linalg.inv(info)
    except np.linalg.LinAlgError as e:  # pragma: no cover - guarded by rank checks upstream
        raise np.linalg.LinAlgError("the information matrix is singular; the model is not identified") from e
    return (v + v.T) / 2


def fit_lag(y: np.ndarray, wy: np.ndarray, Z: np.ndarray, W: SpatialWeights, T: int) -> MLFit:
    """ML of the lag model on within-transformed data (SAR; SDM when Z holds WX).

    Concentration (Anselin 1988; Elhorst 2014, sec. 3.3): with OLS fits
    ``y = Z b0 + e0`` and ``Wy = Z b1 + e1``, ``β(ρ) = b0 - ρ b1`` and
    ``σ²(ρ) = (e0 - ρ e1)'(e0 - ρ e1)/NT``.
    """
    NT = len(y)
    lam = W.eigenvalues()
    b0, b1 = np.linalg.lstsq(Z, np.column_stack([y, wy]), rcond=None)[0].T
    e0 = y - Z @ b0
    e1 = wy - Z @ b1
    s00, s01, s11 = e0 @ e0, e0 @ e1, e1 @ e1

    def negll(r: float) -> float:
        return 0.5 * NT * np.log((s00 - 2 * r * s01 + r * r * s11) / NT) - T * log_det(lam, r)

    lo, hi = W.rho_bounds()
    rho = _solve_bounded(negll, lo, hi)
    coef = b0 - rho * b1
    resid = e0 - rho * e1
    sigma2 = float(resid @ resid / NT)
    loglik = -0.5 * NT * (_LN2PI + np.log(sigma2)) + T * log_det(lam, rho) - 0.5 * NT
    info = information_lag(Z, coef, rho, sigma2, W, T)
    return MLFit("lag", coef, rho, sigma2, float(loglik), info, _inv(info), resid)


def fit_error(y: np.ndarray, wy: np.ndarray, Z: np.ndarray, WZ: np.ndarray, W: SpatialWeights, T: int) -> MLFit:
    """ML of the spatial error model on within-transformed data.

    For given λ, β(λ) is GLS on the filtered data ``y - λWy``, ``Z - λWZ``;
    the concentrated likelihood uses k × k cross-products only.
    """
    NT = len(y)
    lam = W.eigenvalues()
    ZZ, ZW, WW = Z.T @ Z, Z.T @ WZ, WZ.T @ WZ
    Zy, Zwy, WZy, WZwy = Z.T @ y, Z.T @ wy, WZ.T @ y, WZ.T @ wy
    yy, ywy, wywy = y @ y, y @ wy, wy @ wy

    def cross(r: float):
        A = ZZ - r * (ZW + ZW.T) + r * r * WW
        c = Zy - r * (Zwy + WZy) + r * r * WZwy
        return A, c, yy - 2 * r * ywy + r * r * wywy

    def negll(r: float) -> float:
        A, c, q = cross(r)
        ee = q - c @ np.linalg.solve(A, c)
        return 0.5 * NT * np.log(ee / NT) - T * log_det(lam, r)

    lo, hi = W.rho_bounds()
    lam_hat = _solve_bounded(negll, lo, hi)
    A, c, _ = cross(lam_hat)
    coef = np.linalg.solve(A, c)
    Zs = Z - lam_hat * WZ
    resid = (y - lam_hat * wy) - Zs @ coef
    sigma2 = float(resid @ resid / NT)
    loglik = -0.5 * NT * (_LN2PI + np.log(sigma2)) + T * log_det(lam, lam_hat) - 0.5 * NT
    info = information_error(Zs, lam_hat, sigma2, W, T)
    return MLFit("error", coef, lam_hat, sigma2, float(loglik), info, _inv(info), resid)


def lee_yu_correct(fit: MLFit, fe: str, Z: np.ndarray, WZ: np.ndarray | None, W: SpatialWeights, T: int) -> MLFit:
    """Lee–Yu (2010) bias correction of the direct-approach ML estimates.

    ``fe="individual"``: σ² × T/(T-1) (β and ρ of the direct and the
    transformation approach coincide). ``fe="time"``: the period-effect
    correction ``θ + T·I^-1 (0, 1/(1-ρ), 1/(2σ²))``. ``fe="twoway"``: both.
    Period effects require a row-standardized W (``Wι = ι``, the condition
    under which the direct approach's transformation is valid).
    The information matrix and covariance are recomputed at the corrected values.
    """
    if fe == "none":
        return fit
    k = len(fit.coef)
    theta = np.concatenate([fit.coef, [fit.rho, fit.sigma2]])
    if fe in ("time", "twoway"):
        if not W.is_row_standardized:
            raise ValueError("the Lee–Yu correction for period effects needs a row-standardized W (W.row_standardize())")
        a = np.zeros(k + 2)
        a[k] = 1.0 / (1.0 - fit.rho)
        a[k + 1] = 1.0 / (2.0 * fit.sigma2)
        theta = theta + T * (fit.vcov @ a)
    if fe in ("individual", "twoway"):
        theta[k + 1] *= T / (T - 1)
    coef, rho, sigma2 = theta[:k], float(theta[k]), float(theta[k + 1])
    if fit.form == "lag":
        info = information_lag(Z, coef, rho, sigma2, W, T)
    else:
        info = information_error(Z - rho * WZ, rho, sigma2, W, T)
    bias = theta - np.concatenate([fit.coef, [fit.rho, fit.sigma2]])
    return replace(fit, coef=coef, rho=rho, sigma2=sigma2, info=info, vcov=_inv(info), bias=bias)
