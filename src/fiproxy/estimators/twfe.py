"""Linear regression with absorbed fixed effects (one-, two- or multi-way FE).

The within estimator: outcome and regressors are projected off all fixed
effects (Frisch-Waugh-Lovell; Gaure 2013 for several fixed effects) and the
slopes are estimated by (weighted) least squares on the transformed data, as
R fixest's ``feols`` (Bergé 2018) and Stata's ``reghdfe`` (Correia 2017).
Covariances come from :mod:`fiproxy.estimators.inference.vcov`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from fiproxy.estimators.design import (DesignError, LinearDesign, absorb, build_model_frame)
from fiproxy.estimators.formula import parse_formula
from fiproxy.estimators.inference.vcov import VcovInputs, compute_vcov, parse_vcov
from fiproxy.estimators.result import Result

__all__ = ["twfe", "solve_ls", "linear_vcov_inputs", "default_panel_id"]

DEFAULT_PANEL_ID = ("prov_code", "year")


def default_panel_id(data: pd.DataFrame, panel_id: tuple[str, str] | None) -> tuple[str, str] | None:
    """``panel_id`` as given, else ("prov_code", "year") when both columns exist."""
    if panel_id is not None:
        if len(panel_id) != 2:
            raise ValueError(f"panel_id must be (unit, time), got {panel_id!r}")
        return tuple(panel_id)
    return DEFAULT_PANEL_ID if all(c in data.columns for c in DEFAULT_PANEL_ID) else None


def solve_ls(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(Weighted) least squares: returns (beta, bread = (X'WX)^{-1})."""
    Xw = X if weights is None else X * weights[:, None]
    XtX = Xw.T @ X
    Xty = Xw.T @ y
    try:
        c = sla.cho_factor(XtX, lower=False, check_finite=False)
    except np.linalg.LinAlgError:
        raise DesignError("X'X is not positive definite after removing collinear regressors") from None
    beta = sla.cho_solve(c, Xty, check_finite=False)
    bread = sla.cho_solve(c, np.eye(len(XtX)), check_finite=False)
    return beta, (bread + bread.T) / 2


def _refit_slopes(d: LinearDesign, keep: np.ndarray, tol: float, maxiter: int) -> np.ndarray:
    """Slopes on the rows in ``keep`` with the fixed effects re-absorbed (CRV3 jackknife)."""
    from fiproxy.estimators.demean import demean, factorize_fe

    w = None if d.weights is None else d.weights[keep]
    if d.fe_codes.shape[1]:
        fe = factorize_fe(d.fe_codes[keep])
        both, _ = demean(np.column_stack([d.y_raw[keep], d.X_raw[keep]]), fe, w, tol=tol, maxiter=maxiter)
        y, X = both[:, 0], both[:, 1:]
    else:
        y, X = d.y_raw[keep], d.X_raw[keep]
    return solve_ls(X, y, w)[0]


def linear_vcov_inputs(d: LinearDesign, beta: np.ndarray, bread: np.ndarray, time: str | None,
                       tol: float = 1e-10, maxiter: int = 100_000) -> VcovInputs:
    """Covariance inputs of a (weighted) least-squares fit on a LinearDesign."""
    e = d.resid
    ws = e if d.weights is None else d.weights * e
    return VcovInputs(bread=bread, scores=d.X * ws[:, None], resid=e, X=d.X, weights=d.weights,
                      df_fe=d.df_fe, fe_codes=d.fe_codes, frame=d.frame, time=time, params=beta,
                      jackknife=lambda keep: _refit_slopes(d, keep, tol, maxiter))


def _fit_stats(d: LinearDesign, nobs: int, K: int) -> dict:
    w = np.ones(nobs) if d.weights is None else d.weights
    rss = float(np.sum(w * d.resid ** 2))
    ybar = float(np.sum(w * d.y_raw) / np.sum(w))
    tss = float(np.sum(w * (d.y_raw - ybar) ** 2))
    r2 = 1 - rss / tss if tss > 0 else np.nan
    stats = {"nobs": nobs, "rss": rss, "r2": r2,
             "adj_r2": 1 - (1 - r2) * (nobs - 1) / (nobs - K) if nobs > K else np.nan,
             "df_resid": nobs - K, "df_fe": d.df_fe, "sigma": float(np.sqrt(rss / (nobs - K))) if nobs > K else np.nan}
    if d.fe_codes.shape[1]:
        tss_w = float(np.sum(w * d.y ** 2))
        stats["r2_within"] = 1 - rss / tss_w if tss_w > 0 else np.nan
        stats["adj_r2_within"] = 1 - (1 - stats["r2_within"]) * (nobs - d.df_fe - 1) / (nobs - K) if nobs > K else np.nan
    else:
        stats["r2_within"] = None
    return stats


def twfe(
    formula: str,
    data: pd.DataFrame,
    vcov: Any = "iid",
    weights: str | np.ndarray | pd.Series | None = None,
    *,
    panel_id: tuple[str, str] | None = None,
    drop_singletons: bool = True,
    collinear: str = "drop",
    tol: float = 1e-10,
    maxiter: int = 100_000,
) -> Result:
    """Least squares with absorbed fixed effects, fixest style.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2 | prov_code + year"``; see :mod:`fiproxy.estimators.formula`
        (interactions ``a:b``/``a*b``, lags ``l(x, 1)``, leads ``f(x, 1)``,
        ``log(x)``, ``C(g)``, ``i(g, ref=…)``, combined FE ``a^b``).
    data : DataFrame
    vcov : str or dict
        ``"iid"`` (default), ``"HC1"``, ``"HC2"``, ``"HC3"``, ``{"CRV1": "prov_code"}``,
        ``{"CRV1": "prov_code+year"}``, ``{"CRV3": "prov_code"}``, ``"DK"`` or
        ``{"DK": lag}``; see :mod:`fiproxy.estimators.inference.vcov` for the
        small-sample corrections. ``result.vcov_as(...)`` switches without refitting.
    weights : column name or array, optional
        Analytic (precision) weights, positive.
    panel_id : (unit, time), optional
        Panel structure for lags/leads and the DK time dimension; defaults to
        ("prov_code", "year") when both columns exist.
    drop_singletons : bool
        Iteratively drop observations alone in a fixed-effect group (default True).
    collinear : "drop" or "raise"
        Drop regressors collinear with the fixed effects / each other (reported
        by name in ``warnings`` and ``spec["collinear"]``), or raise.
    tol, maxiter : convergence of the fixed-effect projections.

    Returns
    -------
    Result with ``model="twfe"``; ``extra["design"]`` is the
    :class:`~fiproxy.estimators.design.LinearDesign`.
    """
    parsed = parse_formula(formula)
    if parsed.is_iv:
        raise DesignError("twfe does not estimate IV formulas ('endog ~ instruments'); use fiproxy.iv")
    req = parse_vcov(vcov)
    pid = default_panel_id(data, panel_id)
    mf = build_model_frame(parsed, data, panel_id=pid, weights=weights, drop_singletons=drop_singletons)
    d = absorb(mf, tol=tol, maxiter=maxiter, collinear=collinear)
    beta, bread = solve_ls(d.X, d.y, d.weights)
    d.resid = d.y - d.X @ beta
    d.fitted = d.y_raw - d.resid
    nobs = d.nobs
    time = pid[1] if pid else None
    inputs = linear_vcov_inputs(d, beta, bread, time, tol, maxiter)
    names = pd.Index(d.coefnames)

    def vcov_fn(request: Any) -> tuple[pd.DataFrame, float, str, dict]:
        out = compute_vcov(request, inputs)
        stats = {"n_clusters": out.info["n_clusters"]} if "n_clusters" in out.info else {}
        return pd.DataFrame(out.V, index=names, columns=names), out.df_t, out.label, stats

    out = compute_vcov(req, inputs)
    warnings = []
    if mf.n_missing:
        warnings.append(f"{mf.n_missing} row(s) with missing values removed (listwise deletion)")
    if mf.n_singletons:
        groups = "; ".join(f"{k}: {v}" for k, v in mf.singletons.items())
        warnings.append(f"{mf.n_singletons} singleton observation(s) removed" + (f" ({groups})" if groups else ""))
    if d.collinear:
        warnings.append(f"collinear regressor(s) removed: {', '.join(d.collinear)}")
    stats = _fit_stats(d, nobs, d.k + d.df_fe)
    stats["demean_iterations"] = d.demean_iterations
    if "n_clusters" in out.info:
        stats["n_clusters"] = out.info["n_clusters"]
    spec = {
        "formula": parsed.formula,
        "outcome": d.depvar,
        "fe": list(d.fe_names),
        "vcov": req.spec,
        "weights": weights if isinstance(weights, str) or weights is None else "array",
        "panel_id": pid,
        "n_missing": mf.n_missing,
        "n_singletons": mf.n_singletons,
        "singleton_groups": mf.singletons,
        "collinear": list(d.collinear),
        "ssc": "fixest default: adj=TRUE, fixef.K='nested', cluster.adj=TRUE, t.df='min'",
    }
    return Result(
        params=pd.Series(beta, index=names, name="estimate"),
        vcov=pd.DataFrame(out.V, index=names, columns=names),
        nobs=nobs,
        model="twfe",
        spec=spec,
        df_t=out.df_t,
        vcov_type=out.label,
        stats=stats,
        warnings=tuple(warnings),
        extra={"design": d},
        _vcov_fn=vcov_fn,
    )
