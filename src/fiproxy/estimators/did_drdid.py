"""Two-group, two-period DiD estimators of the ATT for panel data, with influence functions.

Each estimator takes the outcome change ``dy = Y_t - Y_base`` of the units in
one comparison (treated ``D = 1`` and comparison ``D = 0``), the covariate
matrix ``X`` (first column the intercept) and unit weights, and returns the
ATT estimate and its influence function (one value per unit), so that
``var(ATT) ≈ mean(IF²) / n``.

- ``"reg"``: outcome regression (Heckman, Ichimura & Todd 1997, "Matching as an
  econometric evaluation estimator", Review of Economic Studies 64(4): 605–654).
- ``"ipw"``: normalized (Hájek) inverse probability weighting (Abadie 2005,
  "Semiparametric difference-in-differences estimators", Review of Economic
  Studies 72(1): 1–19), logit propensity score by maximum likelihood.
- ``"dr"``: locally efficient doubly robust estimator with OLS outcome
  regression and logit propensity score (Sant'Anna & Zhao 2020, "Doubly robust
  difference-in-differences estimators", Journal of Econometrics 219(1):
  101–122, eq. 3.1) — the default of Callaway & Sant'Anna's ``att_gt``.
- ``"dr-imp"``: the *improved* doubly robust estimator of the same paper
  (Section 3.1): propensity score by inverse probability tilting (Graham,
  Pinto & Egel 2012, Review of Economic Studies 79(3): 1053–1079) and
  propensity-weighted least squares for the outcome model, which makes the
  first-stage estimation effects vanish from the influence function.

Propensity scores are capped at ``1 - 1e-6``; comparison units with a score
of 0.995 or more get zero weight (trimming), as in Sant'Anna & Zhao's code.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

__all__ = ["ESTIMATORS", "att_2x2", "SingularDesign"]

_PS_CAP = 1 - 1e-6
_TRIM = 0.995


class SingularDesign(ValueError):
    """A covariate design matrix (outcome regression or propensity score) is singular."""


def _solve_sym(A: np.ndarray, what: str) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix; :class:`SingularDesign` if it is singular."""
    if A.shape[0] and np.linalg.cond(A) > 1e12:
        raise SingularDesign(f"the {what} design matrix is singular (collinear covariates or a covariate constant within a group)")
    return np.linalg.inv(A)


def _wls(y: np.ndarray, X: np.ndarray, w: np.ndarray, what: str) -> np.ndarray:
    """Weighted least-squares coefficients."""
    XtW = X.T * w
    return _solve_sym(XtW @ X, what) @ (XtW @ y)


def _newton(grad_hess, beta0: np.ndarray, loss, what: str, tol: float = 1e-12, maxiter: int = 200) -> np.ndarray:
    """Minimize a convex loss by Newton steps with step halving."""
    beta = beta0.copy()
    f = loss(beta)
    for _ in range(maxiter):
        g, H = grad_hess(beta)
        step = np.linalg.solve(H, g) if np.all(np.isfinite(H)) else None
        if step is None or not np.all(np.isfinite(step)):
            break
        t = 1.0
        while True:
            cand = beta - t * step
            fc = loss(cand)
            if np.isfinite(fc) and fc <= f + 1e-15 * abs(f):
                break
            t /= 2
            if t < 1e-10:
                return beta
        beta, f = cand, fc
        if np.max(np.abs(t * step)) < tol * max(1.0, np.max(np.abs(beta))):
            return beta
    if not np.all(np.isfinite(beta)):
        raise SingularDesign(f"the {what} did not converge (perfect separation of treated and comparison units?)")
    return beta


def _logit(D: np.ndarray, X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted logit maximum-likelihood coefficients."""
    _solve_sym((X.T * w) @ X, "propensity score")

    def loss(b):
        xb = X @ b
        return -np.sum(w * (D * xb - np.logaddexp(0, xb)))

    def grad_hess(b):
        p = expit(X @ b)
        return -(X.T @ (w * (D - p))), (X.T * (w * p * (1 - p))) @ X

    return _newton(grad_hess, np.zeros(X.shape[1]), loss, "propensity score logit")


def _ipt(D: np.ndarray, X: np.ndarray, w: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Inverse-probability-tilting propensity coefficients (Graham, Pinto & Egel 2012).

    Minimizes ``-mean(w [D x'γ - (1 - D) exp(x'γ)])``; at the minimum the
    comparison units reweighted by ``exp(x'γ) = p/(1 - p)`` reproduce the
    treated units' covariate sums exactly.
    """
    C = 1 - D

    def loss(b):
        xb = X @ b
        return -np.mean(w * (D * xb - C * np.exp(xb)))

    def grad_hess(b):
        e = np.exp(X @ b)
        return -(X.T @ (w * (D - C * e))) / len(D), (X.T * (w * C * e)) @ X / len(D)

    return _newton(grad_hess, start, loss, "inverse probability tilting")


def _pscore(D, X, w, beta):
    ps = np.minimum(expit(X @ beta), _PS_CAP)
    keep = np.where(D == 1, True, ps < _TRIM)
    return ps, keep.astype(float)


def _reg(dy, D, X, w):
    n = len(dy)
    C = 1 - D
    beta = _wls(dy[C == 1], X[C == 1], w[C == 1], "outcome regression")
    fit = X @ beta
    w_t = w * D
    att_t, att_c = w_t * dy, w_t * fit
    eta_t, eta_c = att_t.mean() / w_t.mean(), att_c.mean() / w_t.mean()
    w_ols = w * C
    lin_ols = (w_ols * (dy - fit))[:, None] * X @ np.linalg.inv((X.T * w_ols) @ X / n)
    inf_t = (att_t - w_t * eta_t) / w_t.mean()
    inf_c = (att_c - w_t * eta_c + lin_ols @ (w_t @ X / n)) / w_t.mean()
    return eta_t - eta_c, inf_t - inf_c


def _ps_linear_rep(D, X, w, ps):
    """Asymptotic linear representation of the logit coefficients (n × k)."""
    n = len(D)
    H = _solve_sym((X.T * (w * ps * (1 - ps))) @ X, "propensity score") * n
    return (w * (D - ps))[:, None] * X @ H


def _ipw(dy, D, X, w):
    n = len(dy)
    ps, trim = _pscore(D, X, w, _logit(D, X, w))
    w_t = trim * w * D
    w_c = trim * w * ps * (1 - D) / (1 - ps)
    eta_t = (w_t * dy).mean() / w_t.mean()
    eta_c = (w_c * dy).mean() / w_c.mean()
    inf_t = (w_t * dy - w_t * eta_t) / w_t.mean()
    M2 = (w_c * (dy - eta_c)) @ X / n
    inf_c = (w_c * dy - w_c * eta_c + _ps_linear_rep(D, X, w, ps) @ M2) / w_c.mean()
    return eta_t - eta_c, inf_t - inf_c


def _dr(dy, D, X, w):
    n = len(dy)
    C = 1 - D
    ps, trim = _pscore(D, X, w, _logit(D, X, w))
    beta = _wls(dy[C == 1], X[C == 1], w[C == 1], "outcome regression")
    resid = dy - X @ beta
    w_t = trim * w * D
    w_c = trim * w * ps * C / (1 - ps)
    eta_t = (w_t * resid).mean() / w_t.mean()
    eta_c = (w_c * resid).mean() / w_c.mean()
    w_ols = w * C
    lin_ols = (w_ols * resid)[:, None] * X @ np.linalg.inv((X.T * w_ols) @ X / n)
    lin_ps = _ps_linear_rep(D, X, w, ps)
    inf_t = (w_t * resid - w_t * eta_t - lin_ols @ (w_t @ X / n)) / w_t.mean()
    inf_c = (w_c * resid - w_c * eta_c
             + lin_ps @ ((w_c * (resid - eta_c)) @ X / n)
             - lin_ols @ (w_c @ X / n)) / w_c.mean()
    return eta_t - eta_c, inf_t - inf_c


def _dr_imp(dy, D, X, w):
    C = 1 - D
    gamma = _ipt(D, X, w, _logit(D, X, w))
    ps, trim = _pscore(D, X, w, gamma)
    odds = ps / (1 - ps)
    beta = _wls(dy[C == 1], X[C == 1], (w * odds)[C == 1], "outcome regression")
    resid = dy - X @ beta
    w_t = trim * w * D
    w_c = trim * w * odds * C
    eta_t = (w_t * resid).mean() / w_t.mean()
    eta_c = (w_c * resid).mean() / w_c.mean()
    inf = (w_t * resid - w_t * eta_t) / w_t.mean() - (w_c * resid - w_c * eta_c) / w_c.mean()
    return eta_t - eta_c, inf


ESTIMATORS = {"reg": _reg, "ipw": _ipw, "dr": _dr, "dr-imp": _dr_imp}


def att_2x2(method: str, dy: np.ndarray, D: np.ndarray, X: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """ATT and influence function of one 2×2 comparison.

    ``w`` is rescaled to mean 1 within the comparison. ``X`` must contain the intercept.
    """
    w = w / w.mean()
    att, inf = ESTIMATORS[method](dy, D.astype(float), X, w)
    return float(att), inf
