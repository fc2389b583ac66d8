"""Instrumental-variable regression with absorbed fixed effects: 2SLS, LIML, Fuller, k-class.

``iv("y ~ exog | fe | endog ~ z1 + z2", data)`` absorbs the fixed effects from
the outcome, the exogenous and endogenous regressors and the excluded
instruments with the shared within transformation
(:func:`fiproxy.estimators.demean.demean`) and estimates the structural slopes
by the k-class estimator (Theil 1961; Nagar 1959)

    b(k) = [X'(I - k M_Z) X]^{-1} X'(I - k M_Z) y,

with ``k = 1`` (two-stage least squares), ``k = lambda_min`` (limited
information maximum likelihood, Anderson & Rubin 1949) or ``k = lambda_min -
alpha / (N - L)`` (Fuller 1977), ``Z`` the exogenous regressors and excluded
instruments, ``L`` its columns plus the absorbed fixed-effect degrees of
freedom. By Frisch-Waugh-Lovell the slopes equal those of the same estimator
with the fixed effects as dummy variables.

Covariances come from :mod:`fiproxy.estimators.inference.vcov` with the
k-class bread ``[X'(I - k M_Z) X]^{-1}`` and scores ``(P_Z x)_i e_i`` built
from the first-stage fitted values (as ivreg2 and linearmodels), so the
small-sample conventions, ``df_t`` and ``Result.vcov_as`` are those of
:func:`fiproxy.twfe`. HC2/HC3 are not defined for IV and raise an error.

Diagnostics (first stages, Cragg-Donald, Kleibergen-Paap, effective F,
Anderson-Rubin test and confidence set, Sargan/Hansen J, endogeneity C test)
are computed in :mod:`fiproxy.estimators.iv_diagnostics` and stored in
``Result.stats``; first-stage regressions are ``Result`` objects in
``Result.extra["first_stages"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla

from fiproxy.estimators.demean import demean, factorize_fe
from fiproxy.estimators.design import (DesignError, LinearDesign, absorb, build_model_frame,
                                       collinear_columns)
from fiproxy.estimators.formula import parse_formula
from fiproxy.estimators.inference.vcov import VcovError, VcovInputs, compute_vcov, parse_vcov
from fiproxy.estimators.result import Result
from fiproxy.estimators.twfe import _fit_stats, default_panel_id

__all__ = ["iv", "IVDesign", "kclass_fit", "METHODS"]

METHODS = ("2sls", "liml", "fuller", "kclass")


@dataclass
class IVDesign:
    """Arrays of an IV model after absorbing fixed effects, multiplied by sqrt(weights).

    ``X = [endogenous, exogenous]`` and ``Z = [exogenous, excluded instruments]``
    (both within-transformed, times sqrt(w)); ``raw`` holds the untransformed
    outcome and columns (for leave-one-cluster-out refits); ``L`` counts the
    instruments plus the absorbed fixed-effect degrees of freedom.
    """

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    sw: np.ndarray | None
    weights: np.ndarray | None
    endog: list[str]
    exog: list[str]
    instruments: list[str]
    frame: pd.DataFrame
    fe_codes: np.ndarray
    fe_names: list[str]
    df_fe: int
    raw: dict
    dropped: list[str]

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def k1(self) -> int:
        return len(self.endog)

    @property
    def L(self) -> int:
        return self.Z.shape[1] + self.df_fe


def kclass_fit(y: np.ndarray, X: np.ndarray, Z: np.ndarray, k1: int, method: str = "2sls",
               fuller: float = 1.0, kappa: float | None = None, df_fe: int = 0) -> dict:
    """k-class estimate on (transformed) arrays; ``X = [endogenous (k1), exogenous]``.

    Returns beta, bread ``[X'(I - k M_Z) X]^{-1}``, the effective regressors
    ``X_k = X - k M_Z X``, the first-stage fitted values ``P_Z X``, kappa and
    the LIML eigenvalue (``lambda``).
    """
    try:
        cz = sla.cho_factor(Z.T @ Z)
    except np.linalg.LinAlgError:
        raise DesignError("the instruments are collinear (Z'Z is singular)") from None
    PzX = Z @ sla.cho_solve(cz, Z.T @ X)
    lam = None
    if method == "2sls":
        k = 1.0
    elif method in ("liml", "fuller"):
        W = np.column_stack([y, X[:, :k1]])
        X2 = X[:, k1:]
        MzW = W - Z @ sla.cho_solve(cz, Z.T @ W)
        M2W = W - X2 @ np.linalg.lstsq(X2, W, rcond=None)[0] if X2.shape[1] else W
        lam = float(sla.eigh(W.T @ M2W, W.T @ MzW, eigvals_only=True)[0])
        k = lam if method == "liml" else lam - fuller / (len(y) - Z.shape[1] - df_fe)
    else:
        if kappa is None:
            raise ValueError("method='kclass' needs kappa=")
        k = float(kappa)
    Xk = X - k * (X - PzX)
    A = Xk.T @ X
    A = (A + A.T) / 2
    try:
        ca = sla.cho_factor(A)
    except np.linalg.LinAlgError:
        raise DesignError("the IV normal equations are singular: the instruments do not identify "
                          "the endogenous regressors (check the first stage)") from None
    beta = sla.cho_solve(ca, Xk.T @ y)
    bread = sla.cho_solve(ca, np.eye(A.shape[0]))
    return {"beta": beta, "bread": (bread + bread.T) / 2, "Xk": Xk, "PzX": PzX, "kappa": k, "lambda": lam}


def _check_terms(parsed) -> None:
    exog = {t.label for t in parsed.terms}
    endog = [t.label for t in parsed.endog]
    instr = [t.label for t in parsed.instruments]
    both = sorted(exog & set(endog))
    if both:
        raise DesignError(f"{both} listed both as exogenous regressor(s) and as endogenous")
    both = sorted((exog | set(endog)) & set(instr))
    if both:
        raise DesignError(f"{both} cannot be an excluded instrument and a regressor at the same time")


def build_iv_design(parsed, data: pd.DataFrame, *, panel_id, weights, drop_singletons: bool,
                    collinear: str, tol: float, maxiter: int) -> tuple[IVDesign, Any]:
    """Model frame, fixed-effect absorption and collinearity checks of an IV formula."""
    if not parsed.is_iv:
        raise DesignError("the formula has no instrumental-variable part 'endog ~ z1 + z2'; "
                          "write 'y ~ exog | fe | endog ~ instruments' (or use fiproxy.twfe for OLS)")
    _check_terms(parsed)
    terms = parsed.terms + parsed.endog + parsed.instruments
    mf = build_model_frame(parsed, data, terms=terms, panel_id=panel_id, weights=weights,
                           drop_singletons=drop_singletons)
    n_ex, n_en = len(parsed.terms), len(parsed.endog)
    group = np.array(["exog" if t < n_ex else "endog" if t < n_ex + n_en else "instr" for t in mf.term_index])
    names = np.array(mf.coefnames)
    cols = {g: np.flatnonzero(group == g) for g in ("endog", "exog", "instr")}
    if cols["instr"].size < cols["endog"].size:
        raise DesignError(
            f"under-identified: {cols['instr'].size} excluded instrument column(s) "
            f"({', '.join(names[cols['instr']])}) for {cols['endog'].size} endogenous regressor(s) "
            f"({', '.join(names[cols['endog']])}); at least as many instruments are needed"
        )
    # regressors [exog, endog]: collinear exogenous columns are dropped, an endogenous one is an error
    order = np.concatenate([cols["exog"], cols["endog"]])
    d = absorb(replace(mf, X=mf.X[:, order], coefnames=list(names[order])), tol=tol, maxiter=maxiter,
               collinear=collinear)
    lost_endog = [c for c in d.collinear if c in set(names[cols["endog"]])]
    if lost_endog:
        raise DesignError(f"perfectly collinear design: endogenous regressor(s) {lost_endog} are collinear "
                          "with the fixed effects or the exogenous regressors")
    endog = list(names[cols["endog"]])
    exog = [c for c in d.coefnames if c not in set(endog)]
    Xd = pd.DataFrame(d.X, columns=d.coefnames)
    Zr = mf.X[:, cols["instr"]]
    Zd = demean(Zr, mf.fe_codes, mf.weights, tol=tol, maxiter=maxiter)[0] if mf.fe_codes.shape[1] else Zr
    Xex = Xd[exog].to_numpy()
    both = np.column_stack([Xex, Zd])
    ref = (np.column_stack([mf.X[:, [list(names).index(c) for c in exog]], Zr]) ** 2)
    ref = (ref if mf.weights is None else ref * mf.weights[:, None]).sum(axis=0)
    drop_z = collinear_columns(both, mf.weights, ref)[Xex.shape[1]:]
    instr = [str(c) for c in names[cols["instr"]]]
    dropped = list(d.collinear)
    if drop_z.any():
        lost = [c for c, dz in zip(instr, drop_z) if dz]
        if collinear == "raise" or (~drop_z).sum() < len(endog):
            raise DesignError(f"perfectly collinear instruments: {lost} are collinear with the fixed effects, "
                              "the exogenous regressors or other instruments"
                              + ("; too few instruments are left" if (~drop_z).sum() < len(endog) else ""))
        dropped += lost
        instr = [c for c, dz in zip(instr, drop_z) if not dz]
        Zd, Zr = Zd[:, ~drop_z], Zr[:, ~drop_z]
    w = mf.weights
    sw = None if w is None else np.sqrt(w)
    X = Xd[endog + exog].to_numpy()
    Z = np.column_stack([Xex, Zd])
    y = d.y
    if sw is not None:
        X, Z, y = X * sw[:, None], Z * sw[:, None], y * sw
    xr = pd.DataFrame(d.X_raw, columns=d.coefnames)
    raw = {"y": d.y_raw, "X": xr[endog + exog].to_numpy(), "Z": np.column_stack([xr[exog].to_numpy(), Zr])}
    design = IVDesign(y=y, X=X, Z=Z, sw=sw, weights=w, endog=endog, exog=exog, instruments=instr,
                      frame=d.frame, fe_codes=d.fe_codes, fe_names=d.fe_names, df_fe=d.df_fe, raw=raw,
                      dropped=dropped)
    return design, (mf, d)


def _refit(des: IVDesign, keep: np.ndarray, method: str, fuller: float, kappa, tol, maxiter) -> np.ndarray:
    """Slopes without the dropped rows, fixed effects re-absorbed (CRV3 jackknife)."""
    raw = des.raw
    arrs = np.column_stack([raw["y"][keep], raw["X"][keep], raw["Z"][keep]])
    w = None if des.weights is None else des.weights[keep]
    df_fe = 0
    if des.fe_codes.shape[1]:
        fe = factorize_fe(des.fe_codes[keep])
        arrs = demean(arrs, fe, w, tol=tol, maxiter=maxiter)[0]
        df_fe = int(sum(int(fe[:, j].max()) + 1 for j in range(fe.shape[1])) - (fe.shape[1] - 1))
    if w is not None:
        arrs = arrs * np.sqrt(w)[:, None]
    kx = raw["X"].shape[1]
    return kclass_fit(arrs[:, 0], arrs[:, 1:1 + kx], arrs[:, 1 + kx:], des.k1, method, fuller, kappa,
                      df_fe)["beta"]


def iv_vcov_inputs(des: IVDesign, fit: dict, time: str | None, jackknife=None) -> VcovInputs:
    """Covariance inputs of a k-class fit: bread [X'(I-kM_Z)X]^{-1}, scores (P_Z x)_i e_i."""
    e_t = des.y - des.X @ fit["beta"]
    resid = e_t if des.sw is None else e_t / des.sw
    Xh = fit["PzX"] if des.sw is None else fit["PzX"] / des.sw[:, None]
    return VcovInputs(bread=fit["bread"], scores=fit["PzX"] * e_t[:, None], resid=resid, X=Xh,
                      weights=des.weights, df_fe=des.df_fe, fe_codes=des.fe_codes, frame=des.frame,
                      time=time, params=fit["beta"], jackknife=jackknife)


def checked_vcov(request: Any):
    """Parse a covariance request for IV-type estimators (HC2/HC3 are OLS leverage corrections)."""
    req = parse_vcov(request)
    if req.kind in ("HC2", "HC3"):
        raise VcovError(f"{req.kind} is not defined for instrumental-variable estimators; use 'HC1' "
                        "or a cluster-robust covariance")
    return req


def iv(
    formula: str,
    data: pd.DataFrame,
    vcov: Any = "iid",
    weights: str | np.ndarray | pd.Series | None = None,
    *,
    method: str = "2sls",
    fuller: float = 1.0,
    kappa: float | None = None,
    panel_id: tuple[str, str] | None = None,
    drop_singletons: bool = True,
    collinear: str = "drop",
    diagnostics: bool = True,
    ar_level: float = 0.95,
    ar_grid: np.ndarray | None = None,
    endog_test: list[str] | None = None,
    tol: float = 1e-10,
    maxiter: int = 100_000,
) -> Result:
    """Instrumental-variable regression with absorbed fixed effects.

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + x2 | prov_code + year | d ~ z1 + z2"`` (fixed effects
        optional: ``"y ~ x1 | d ~ z1"``); several endogenous regressors
        ``d1 + d2 ~ z1 + z2 + z3``. Same term syntax as :func:`fiproxy.twfe`.
    data : DataFrame
    vcov : str or dict
        As in :func:`fiproxy.twfe` (``"iid"``, ``"HC1"``, ``{"CRV1": "prov_code"}``,
        two-way clusters, ``{"CRV3": …}``, ``"DK"``). The diagnostics use the
        same covariance type (Kleibergen-Paap and Hansen J when it is not iid).
    weights : column or array, optional
        Analytic weights.
    method : {"2sls", "liml", "fuller", "kclass"}
        ``fuller`` is the Fuller constant alpha (default 1); ``kappa`` the k of
        ``method="kclass"``.
    diagnostics : bool
        Compute first stages and weak-instrument, over-identification and
        endogeneity statistics (``Result.stats``).
    ar_level, ar_grid
        Level and (optional) grid of the Anderson-Rubin confidence set (one
        endogenous regressor).
    endog_test : list of str, optional
        Endogenous regressors tested for exogeneity by the C statistic (default: all).
    panel_id, drop_singletons, collinear, tol, maxiter
        As in :func:`fiproxy.twfe`.

    Returns
    -------
    Result with ``model="iv-2sls"``, ``"iv-liml"``, ``"iv-fuller"`` or ``"iv-kclass"``;
    ``extra["first_stages"]`` (dict of first-stage ``Result``), ``extra["iv_design"]``
    (:class:`IVDesign`), ``extra["ar_set"]`` (Anderson-Rubin confidence set).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    parsed = parse_formula(formula)
    req = checked_vcov(vcov)
    pid = default_panel_id(data, panel_id)
    des, (mf, d) = build_iv_design(parsed, data, panel_id=pid, weights=weights, drop_singletons=drop_singletons,
                                   collinear=collinear, tol=tol, maxiter=maxiter)
    fit = kclass_fit(des.y, des.X, des.Z, des.k1, method, fuller, kappa, des.df_fe)
    time = pid[1] if pid else None
    inputs = iv_vcov_inputs(des, fit, time,
                            jackknife=lambda keep: _refit(des, keep, method, fuller, kappa, tol, maxiter))
    names = pd.Index(des.endog + des.exog)

    def vcov_fn(request: Any) -> tuple[pd.DataFrame, float, str, dict]:
        out = compute_vcov(checked_vcov(request), inputs)
        stats = {"n_clusters": out.info["n_clusters"]} if "n_clusters" in out.info else {}
        return pd.DataFrame(out.V, index=names, columns=names), out.df_t, out.label, stats

    out = compute_vcov(req, inputs)
    # fit statistics on the structural residuals (not the second-stage ones)
    lin = LinearDesign(X=d.X, y=d.y, X_raw=d.X_raw, y_raw=d.y_raw, weights=des.weights, coefnames=list(names),
                       depvar=d.depvar, frame=d.frame, fe_codes=d.fe_codes, fe_names=d.fe_names, df_fe=d.df_fe,
                       intercept=d.intercept)
    lin.resid = inputs.resid
    stats = _fit_stats(lin, des.n, len(names) + des.df_fe)
    stats.update(kappa=fit["kappa"], n_endog=des.k1, n_instruments=len(des.instruments))
    if fit["lambda"] is not None:
        stats["liml_lambda"] = fit["lambda"]
    if "n_clusters" in out.info:
        stats["n_clusters"] = out.info["n_clusters"]
    warnings = []
    if mf.n_missing:
        warnings.append(f"{mf.n_missing} row(s) with missing values removed (listwise deletion)")
    if mf.n_singletons:
        warnings.append(f"{mf.n_singletons} singleton observation(s) removed")
    if des.dropped:
        warnings.append(f"collinear column(s) removed: {', '.join(des.dropped)}")
    extra: dict = {"iv_design": des}
    if diagnostics:
        from fiproxy.estimators.iv_diagnostics import iv_diagnostics

        diag = iv_diagnostics(des, fit, req, time, level=ar_level, grid=ar_grid, endog_test=endog_test)
        stats.update(diag["stats"])
        extra["first_stages"] = diag["first_stages"]
        extra["ar_set"] = diag.get("ar_set")
        warnings.extend(diag["warnings"])
    spec = {
        "formula": parsed.formula, "outcome": d.depvar, "fe": list(des.fe_names), "vcov": req.spec,
        "method": method, "fuller": fuller if method == "fuller" else None,
        "kappa": kappa if method == "kclass" else None,
        "endogenous": des.endog, "exogenous": des.exog, "instruments": des.instruments,
        "weights": weights if isinstance(weights, str) or weights is None else "array",
        "panel_id": pid, "n_missing": mf.n_missing, "n_singletons": mf.n_singletons,
        "collinear": des.dropped,
        "ssc": "fixest default: adj=TRUE, fixef.K='nested', cluster.adj=TRUE, t.df='min'",
    }
    return Result(
        params=pd.Series(fit["beta"], index=names, name="estimate"),
        vcov=pd.DataFrame(out.V, index=names, columns=names),
        nobs=des.n, model=f"iv-{method}", spec=spec, df_t=out.df_t, vcov_type=out.label,
        stats=stats, warnings=tuple(warnings), extra=extra, _vcov_fn=vcov_fn,
    )
