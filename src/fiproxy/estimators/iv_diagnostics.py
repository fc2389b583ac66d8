"""Weak-instrument, over-identification and endogeneity diagnostics of a fitted IV model.

All statistics work on the fixed-effect-demeaned (and sqrt-weighted) arrays of
an :class:`~fiproxy.estimators.iv.IVDesign`, with the exogenous regressors
partialled out where the statistic is defined on the excluded instruments.
Conventions follow Baum, Schaffer & Stillman (2007, "Enhanced routines for
instrumental variables/generalized method of moments estimation and testing",
Stata Journal 7: 465-506; ivreg2/xtivreg2):

- first-stage F per endogenous regressor: Wald test of the excluded
  instruments with the model's covariance, divided by their number;
  Sanderson & Windmeijer (2016, J. Econometrics 190: 212-221) conditional F
  when there are several endogenous regressors;
- Cragg & Donald (1993) Wald F = (N-L)/L1 * min eig(canonical correlations^2 / (1 - ...));
  Anderson (1951) canonical-correlation LM = N * min eig;
- Kleibergen & Paap (2006, J. Econometrics 133: 97-126) rk LM and rk Wald
  statistics with heteroskedasticity-, cluster- or HAC-robust score covariance
  (no small-sample factor, as ivreg2 without ``small``); rk Wald F =
  chi2/L1 * (N-L)/N, times (G-1)/G * N/(N-1) when clustered;
- effective F of Montiel Olea & Pflueger (2013, J. Business & Economic
  Statistics 31: 358-369) with its simplified (conservative) TSLS critical
  value for a 10% Nagar-bias threshold (one endogenous regressor);
- Anderson & Rubin (1949) test of H0: beta_endog = b0 (Wald test of the
  excluded instruments in the regression of y - X1 b0 on all instruments) and,
  with one endogenous regressor, the weak-instrument-robust confidence set by
  test inversion over a grid, endpoints refined by root finding;
- Sargan (1958) statistic (iid) and Hansen (1982) J (robust: two-step
  efficient GMM objective with the score covariance of the 2SLS residuals);
- endogeneity C statistic (difference-in-Sargan/Hansen, Hayashi 2000 ch. 3.6):
  the regressors tested enter the instrument set of the restricted model,
  whose error variance / score covariance is used for both statistics.

``L`` counts all instruments (exogenous regressors, excluded instruments) plus
the absorbed fixed-effect degrees of freedom (xtivreg2's ``dofminus``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy import optimize as _opt
from scipy import stats as _st

from fiproxy.estimators.inference.vcov import VcovInputs, VcovRequest, compute_vcov
from fiproxy.estimators.result import Result

__all__ = ["iv_diagnostics", "raw_meat", "partial_out", "canonical_correlations", "kleibergen_paap",
           "anderson_rubin", "ar_confidence_set", "effective_f", "hansen_j", "mop_critical_value"]


# ---------------------------------------------------------------------------- building blocks
def raw_meat(req: VcovRequest, scores: np.ndarray, frame: pd.DataFrame, time: str | None) -> tuple[np.ndarray, dict]:
    """Sum of outer products of the scores (by cluster / period kernel), without small-sample factor.

    Uses :func:`~fiproxy.estimators.inference.vcov.compute_vcov` with an
    identity bread and divides out its factor; HC2/HC3 map to HC0, CRV3 to CRV1.
    """
    kind = {"HC2": "HC1", "HC3": "HC1", "CRV3": "CRV1"}.get(req.kind, req.kind)
    n, k = scores.shape
    inp = VcovInputs(bread=np.eye(k), scores=scores, resid=np.zeros(n), X=scores, weights=None, df_fe=0,
                     fe_codes=np.empty((n, 0), dtype=np.int64), frame=frame, time=time)
    out = compute_vcov(replace(req, kind=kind), inp)
    return out.V / out.info["factor"], out.info


def partial_out(A: np.ndarray, X2: np.ndarray) -> np.ndarray:
    """Residuals of the columns of A on X2 (least squares)."""
    if X2.shape[1] == 0:
        return A
    return A - X2 @ np.linalg.lstsq(X2, A, rcond=None)[0]


def _chol_upper(Q: np.ndarray) -> np.ndarray:
    return sla.cholesky((Q + Q.T) / 2, lower=False)


def canonical_correlations(X1p: np.ndarray, Z1p: np.ndarray) -> dict:
    """Standardized reduced form ``theta = R_zz pi R_yy^{-1}`` and its SVD (canonical correlations)."""
    N = len(X1p)
    Qzz, Qyy, Qzy = Z1p.T @ Z1p / N, X1p.T @ X1p / N, Z1p.T @ X1p / N
    Rzz, Ryy = _chol_upper(Qzz), _chol_upper(Qyy)
    pihat = sla.cho_solve((Rzz, False), Qzy)
    irQyy = sla.solve_triangular(Ryy, np.eye(len(Ryy)))
    irQzz = sla.solve_triangular(Rzz, np.eye(len(Rzz)))
    theta = Rzz @ pihat @ irQyy
    U, s, Vt = np.linalg.svd(theta, full_matrices=True)
    return {"theta": theta, "U": U, "cc": s, "V": Vt.T, "pihat": pihat, "irQyy": irQyy, "irQzz": irQzz}


def _sym_sqrt(A: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((A + A.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def kleibergen_paap(cc: dict, Vhat: np.ndarray, Z1p: np.ndarray, req: VcovRequest, frame, time) -> tuple[float, int]:
    """Kleibergen-Paap (2006) rk statistic of H0: rank(Pi) = K1 - 1 with robust score covariance.

    ``Vhat`` are the first-stage residuals (Wald version) or the partialled
    endogenous regressors (LM version). Returns (chi2, degrees of freedom).
    """
    N, L1 = Z1p.shape
    K1 = Vhat.shape[1]
    scores = (Vhat[:, :, None] * Z1p[:, None, :]).reshape(N, K1 * L1)  # vec order: column j of Pi first
    meat, _ = raw_meat(req, scores, frame, time)
    T = np.kron(cc["irQyy"].T, cc["irQzz"].T)
    kpvar = T @ (meat / N) @ T.T
    U, V, q = cc["U"], cc["V"], K1 - 1
    u12, u22 = U[:q, q:], U[q:, q:]
    v12, v22 = V[:q, q:], V[q:, q:]
    aq = np.vstack([u12, u22]) @ np.linalg.solve(u22, _sym_sqrt(u22 @ u22.T))
    bq = _sym_sqrt(v22 @ v22.T) @ np.linalg.solve(v22.T, np.vstack([v12, v22]).T)
    M = np.kron(bq, aq.T)
    lab = M @ cc["theta"].reshape(-1, order="F")
    vlab = M @ kpvar @ M.T
    vals, vecs = np.linalg.eigh((vlab + vlab.T) / 2)
    keep = vals > vals.max() * 1e-12 * len(vals)
    z = vecs[:, keep].T @ lab
    chi2 = float(N * np.sum(z ** 2 / vals[keep]))
    return chi2, int(L1 - K1 + 1 - (~keep).sum())


def _wald_block(coef: np.ndarray, V: np.ndarray) -> float:
    return float(coef @ np.linalg.solve(V, coef))


def _ols_inputs(des, Z: np.ndarray, e_t: np.ndarray, bread: np.ndarray, time) -> VcovInputs:
    sw = des.sw
    return VcovInputs(bread=bread, scores=Z * e_t[:, None], resid=e_t if sw is None else e_t / sw,
                      X=Z if sw is None else Z / sw[:, None], weights=des.weights, df_fe=des.df_fe,
                      fe_codes=des.fe_codes, frame=des.frame, time=time)


def _ols(des, Z: np.ndarray, y: np.ndarray, req, time) -> tuple[np.ndarray, Any, np.ndarray]:
    """OLS of y on Z (transformed arrays) with the model's covariance: (coef, vcov outcome, resid)."""
    cz = sla.cho_factor(Z.T @ Z)
    bread = sla.cho_solve(cz, np.eye(Z.shape[1]))
    coef = bread @ (Z.T @ y)
    e = y - Z @ coef
    return coef, compute_vcov(req, _ols_inputs(des, Z, e, (bread + bread.T) / 2, time)), e


def _f_stat(W: float, q: int, df_t: float | None) -> dict:
    F = W / q
    p = float(_st.chi2.sf(W, q)) if df_t is None else float(_st.f.sf(F, q, df_t))
    return {"F": F, "chi2": W, "df": (q, df_t), "pvalue": p}


# ---------------------------------------------------------------------------- first stages
def first_stages(des, req, time) -> tuple[dict, dict]:
    """First-stage Results, F of the excluded instruments, partial R^2, Sanderson-Windmeijer F."""
    n_ex = len(des.exog)
    names = pd.Index(des.exog + des.instruments)
    excl = np.arange(n_ex, des.Z.shape[1])
    X2 = des.X[:, des.k1:]
    out_res, stats = {}, {}
    for j, name in enumerate(des.endog):
        coef, vo, e = _ols(des, des.Z, des.X[:, j], req, time)
        V = pd.DataFrame(vo.V, index=names, columns=names)
        res = Result(params=pd.Series(coef, index=names, name="estimate"), vcov=V, nobs=des.n,
                     model="iv-first-stage", spec={"outcome": name, "vcov": req.spec}, df_t=vo.df_t,
                     vcov_type=vo.label, stats={"rss": float(e @ e)})
        W = _wald_block(coef[excl], vo.V[np.ix_(excl, excl)])
        x1p = partial_out(des.X[:, [j]], X2)[:, 0]
        pr2 = 1 - float(e @ e) / float(x1p @ x1p)
        res.stats.update(partial_r2=pr2, F_excluded=W / len(excl))
        out_res[name] = res
        stats[name] = {**_f_stat(W, len(excl), vo.df_t), "partial_r2": pr2}
    if des.k1 > 1:
        from fiproxy.estimators.iv import kclass_fit

        q = len(excl) - des.k1 + 1
        for j, name in enumerate(des.endog):
            others = [i for i in range(des.X.shape[1]) if i != j]
            fit = kclass_fit(des.X[:, j], des.X[:, others], des.Z, des.k1 - 1)
            eps = des.X[:, j] - des.X[:, others] @ fit["beta"]
            coef, vo, _ = _ols(des, des.Z, eps, req, time)
            W = _wald_block(coef[excl], vo.V[np.ix_(excl, excl)])
            stats[name]["sw"] = _f_stat(W, q, vo.df_t)
    return out_res, stats


# ---------------------------------------------------------------------------- weak identification
def mop_critical_value(S: np.ndarray, tau: float = 0.10, alpha: float = 0.05) -> tuple[float, float]:
    """Simplified (conservative) Montiel Olea-Pflueger TSLS critical value and effective dof K_eff.

    ``S`` is the covariance of the first-stage moments in the instrument
    metric; K_eff = tr(S)^2 (1+2x) / (tr(S'S) + 2x tr(S) maxeig(S)), x = 1/tau;
    critical value = inverse non-central chi2(K_eff, x K_eff) at 1-alpha, over K_eff.
    """
    x = 1.0 / tau
    ev = np.linalg.eigvalsh((S + S.T) / 2)
    trS = float(ev.sum())
    k_eff = trS ** 2 * (1 + 2 * x) / (float(np.sum(ev ** 2)) + 2 * x * trS * float(ev.max()))
    return float(_st.ncx2.ppf(1 - alpha, k_eff, x * k_eff) / k_eff), float(k_eff)


def effective_f(first: Result, instruments: list[str], Z1p: np.ndarray) -> dict:
    """Montiel Olea-Pflueger effective F: pi' Q pi / tr(Q V_pi), Q = Z1p'Z1p (one endogenous regressor)."""
    pi = first.params[instruments].to_numpy()
    Vpi = first.vcov.loc[instruments, instruments].to_numpy()
    Q = Z1p.T @ Z1p
    F = float(pi @ Q @ pi / np.trace(Q @ Vpi))
    Qh = _sym_sqrt(Q)
    crit, k_eff = mop_critical_value(Qh @ Vpi @ Qh)
    return {"F_eff": F, "K_eff": k_eff, "crit_tsls_tau10_5pct": crit}


def identification(des, req, time) -> dict:
    """Cragg-Donald, Anderson LM and (non-iid covariance) Kleibergen-Paap statistics."""
    n_ex = len(des.exog)
    X2 = des.X[:, des.k1:]
    X1p = partial_out(des.X[:, :des.k1], X2)
    Z1p = partial_out(des.Z[:, n_ex:], X2)
    N, L1, K1, d = des.n, Z1p.shape[1], des.k1, des.df_fe
    cc = canonical_correlations(X1p, Z1p)
    ev = np.min(cc["cc"][:K1] ** 2)
    out = {"cragg_donald_F": float((N - des.L) / L1 * ev / (1 - ev)),
           "anderson_LM": {"stat": float((N - d) * ev), "df": L1 - K1 + 1,
                           "pvalue": float(_st.chi2.sf((N - d) * ev, L1 - K1 + 1))}}
    if req.kind != "iid":
        lm, df = kleibergen_paap(cc, X1p, Z1p, req, des.frame, time)
        wald, _ = kleibergen_paap(cc, X1p - Z1p @ cc["pihat"], Z1p, req, des.frame, time)
        F = wald / L1 * (N - des.L) / N
        if req.clusters:
            _, info = raw_meat(req, np.ones((N, 1)), des.frame, time)
            G = min(info["n_clusters"].values())
            F *= (G - 1) / G * N / (N - 1)
        out["kleibergen_paap_LM"] = {"stat": lm, "df": df, "pvalue": float(_st.chi2.sf(lm, df))}
        out["kleibergen_paap_F"] = float(F)
        out["kleibergen_paap_wald"] = float(wald)
    return out, Z1p


# ---------------------------------------------------------------------------- Anderson-Rubin
def _ar_pieces(des, req, time) -> dict:
    """Reduced forms of y and X1 on all instruments and the covariance of their excluded blocks."""
    n_ex = len(des.exog)
    Z = des.Z
    excl = np.arange(n_ex, Z.shape[1])
    cz = sla.cho_factor(Z.T @ Z)
    B = sla.cho_solve(cz, np.eye(Z.shape[1]))
    B = (B + B.T) / 2
    R = np.column_stack([des.y, des.X[:, :des.k1]])  # y, x1..xk1
    G = B @ (Z.T @ R)
    E = R - Z @ G
    m = R.shape[1]
    one = compute_vcov(req, _ols_inputs(des, Z, E[:, 0], B, time))
    if req.kind == "iid":
        S = E.T @ E / (des.n - Z.shape[1] - des.df_fe)
        Vb = B[np.ix_(excl, excl)]
        V = np.einsum("ab,ij->aibj", S, Vb)
    else:
        k = Z.shape[1]
        big = VcovInputs(bread=np.kron(np.eye(m), B), scores=np.hstack([Z * E[:, [a]] for a in range(m)]),
                         resid=E[:, 0], X=np.tile(Z, m), weights=None, df_fe=des.df_fe, fe_codes=des.fe_codes,
                         frame=des.frame, time=time)
        rq = replace(req, kind="CRV1") if req.kind == "CRV3" else req
        allv = compute_vcov(rq, big)
        ratio = one.info.get("factor", 1.0) / allv.info["factor"]
        V = (allv.V * ratio).reshape(m, k, m, k)[:, excl][:, :, :, excl]
    return {"g": G[excl], "V": V, "df_t": one.df_t, "L1": len(excl)}


def _ar_stat(p: dict, b: np.ndarray) -> np.ndarray:
    """AR Wald statistic at each row of b (shape (nb, K1))."""
    c = np.column_stack([np.ones(len(b)), -b])  # coefficient on [y, x1..]
    gb = np.einsum("am,bm->ba", p["g"], c)
    Vb = np.einsum("bm,manl,bn->bal", c, p["V"], c)
    return np.einsum("ba,ba->b", gb, np.linalg.solve(Vb, gb[..., None])[..., 0])


def anderson_rubin(pieces: dict, b0) -> dict:
    """Anderson-Rubin test of H0: beta_endog = b0."""
    b0 = np.atleast_2d(np.asarray(b0, dtype=float))
    W = float(_ar_stat(pieces, b0)[0])
    return {**_f_stat(W, pieces["L1"], pieces["df_t"]), "null": b0.ravel().tolist()}


def ar_confidence_set(pieces: dict, center: float, scale: float, level: float = 0.95,
                      grid: np.ndarray | None = None) -> dict:
    """Weak-instrument-robust confidence set for one endogenous coefficient by AR test inversion.

    Grid points are accepted when the AR p-value is at least ``1 - level``;
    each boundary is refined by root finding. The set is unbounded when the
    limit of the statistic as |b| grows (the first-stage Wald statistic) is
    itself not significant.
    """
    L1, df_t = pieces["L1"], pieces["df_t"]
    crit = float(_st.chi2.ppf(level, L1)) if df_t is None else float(L1 * _st.f.ppf(level, L1, df_t))
    if grid is None:
        grid = center + scale * np.linspace(-50, 50, 4001)
    grid = np.sort(np.asarray(grid, dtype=float))
    stat = _ar_stat(pieces, grid[:, None])
    ok = stat <= crit
    f = lambda b: float(_ar_stat(pieces, np.array([[b]]))[0]) - crit  # noqa: E731
    g, V = pieces["g"], pieces["V"]
    limit = _wald_block(g[:, 1], V[1, :, 1, :])  # first-stage Wald of the excluded instruments
    intervals = []
    i = 0
    while i < len(grid):
        if not ok[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(grid) and ok[j + 1]:
            j += 1
        lo = _opt.brentq(f, grid[i - 1], grid[i], xtol=1e-12) if i > 0 else -np.inf
        hi = _opt.brentq(f, grid[j], grid[j + 1], xtol=1e-12) if j + 1 < len(grid) else np.inf
        intervals.append((float(lo), float(hi)))
        i = j + 1
    unbounded = limit <= crit
    if unbounded and intervals:
        intervals[0] = (-np.inf, intervals[0][1])
        intervals[-1] = (intervals[-1][0], np.inf)
    elif unbounded:
        intervals = [(-np.inf, np.inf)] if ok.all() or not ok.any() else intervals
    return {"intervals": intervals, "level": level, "bounded": not unbounded, "critical_value": crit,
            "grid": (float(grid[0]), float(grid[-1]), len(grid))}


# ---------------------------------------------------------------------------- over-identification, endogeneity
def _gmm_objective(y: np.ndarray, X: np.ndarray, Z: np.ndarray, Winv: np.ndarray) -> float:
    """Minimized GMM objective g'S^{-1}g with moment covariance S (= Winv)."""
    W = np.linalg.pinv((Winv + Winv.T) / 2)
    ZX, Zy = Z.T @ X, Z.T @ y
    b = np.linalg.solve(ZX.T @ W @ ZX, ZX.T @ W @ Zy)
    g = Zy - ZX @ b
    return float(g @ W @ g)


def _tsls_resid(y, X, Z):
    from fiproxy.estimators.iv import kclass_fit

    return y - X @ kclass_fit(y, X, Z, X.shape[1])["beta"]


def hansen_j(y, X, Z, e, req, frame, time, dofminus: int) -> float:
    """Sargan (iid request) or Hansen J (robust) over-identification statistic."""
    if req.kind == "iid":
        pz = Z @ np.linalg.lstsq(Z, e, rcond=None)[0]
        return float((e @ pz) / (e @ e / (len(e) - dofminus)))
    S, _ = raw_meat(req, Z * e[:, None], frame, time)
    return _gmm_objective(y, X, Z, S)


def endogeneity_c(des, req, time, test: list[int]) -> float:
    """C (difference-in-Sargan/Hansen) statistic for the exogeneity of endogenous columns ``test``."""
    y, X, Z = des.y, des.X, des.Z
    Zr = np.column_stack([Z, X[:, test]])
    er = _tsls_resid(y, X, Zr)
    eu = _tsls_resid(y, X, Z)
    if req.kind == "iid":
        s2 = er @ er / (des.n - des.df_fe)
        proj = lambda A, e: float(e @ (A @ np.linalg.lstsq(A, e, rcond=None)[0]))  # noqa: E731
        return (proj(Zr, er) - proj(Z, eu)) / s2
    S, _ = raw_meat(req, Zr * er[:, None], des.frame, time)
    k = Z.shape[1]
    return _gmm_objective(y, X, Zr, S) - _gmm_objective(y, X, Z, S[:k, :k])


# ---------------------------------------------------------------------------- all diagnostics
def iv_diagnostics(des, fit: dict, req, time, *, level: float = 0.95, grid=None, endog_test=None) -> dict:
    """Every diagnostic of :func:`fiproxy.iv` as a ``stats`` dict plus first-stage Results.

    A CRV3 request uses CRV1 for the auxiliary regressions (first stages, AR, J).
    """
    warn: list[str] = []
    if req.kind == "CRV3":
        req = replace(req, kind="CRV1")
    firsts, fs = first_stages(des, req, time)
    stats: dict = {"first_stage": fs}
    ident, Z1p = identification(des, req, time)
    stats.update(ident)
    L1, K1 = Z1p.shape[1], des.k1
    if K1 == 1:
        eff = effective_f(firsts[des.endog[0]], des.instruments, Z1p)
        stats["effective_F"] = eff
        if eff["F_eff"] < eff["crit_tsls_tau10_5pct"]:
            warn.append(f"weak instruments: effective F {eff['F_eff']:.2f} is below the Montiel Olea-Pflueger "
                        f"critical value {eff['crit_tsls_tau10_5pct']:.2f} (10% bias, 5% level); "
                        "rely on the Anderson-Rubin confidence set")
    pieces = _ar_pieces(des, req, time)
    stats["anderson_rubin"] = anderson_rubin(pieces, np.zeros(K1))
    ar_set = None
    if K1 == 1:
        b = float(fit["beta"][0])
        scale = float(np.sqrt(fit["bread"][0, 0]) * max(np.std(des.y - des.X @ fit["beta"]), 1e-12))
        ar_set = ar_confidence_set(pieces, b, scale, level, grid)
        stats["ar_confidence_set"] = ar_set["intervals"]
    e = des.y - des.X @ fit["beta"]
    if L1 > K1:
        J = hansen_j(des.y, des.X, des.Z, e, req, des.frame, time, des.df_fe)
        key = "sargan" if req.kind == "iid" else "hansen_j"
        stats[key] = {"stat": J, "df": L1 - K1, "pvalue": float(_st.chi2.sf(J, L1 - K1))}
    names = endog_test if endog_test is not None else des.endog
    unknown = [c for c in names if c not in des.endog]
    if unknown:
        raise ValueError(f"endog_test: {unknown} are not endogenous regressors ({des.endog})")
    C = endogeneity_c(des, req, time, [des.endog.index(c) for c in names])
    stats["endogeneity_C"] = {"stat": C, "df": len(names), "pvalue": float(_st.chi2.sf(C, len(names))),
                              "tested": list(names)}
    return {"stats": stats, "first_stages": firsts, "ar_set": ar_set, "warnings": warn}
