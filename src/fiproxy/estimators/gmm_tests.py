"""Specification tests after dynamic-panel GMM.

- Sargan (1958) test of over-identifying restrictions from one-step residuals,
  ``ê1'Z A1 Z'ê1 / σ²``: not robust to heteroskedasticity, but not weakened by
  many instruments.
- Hansen (1982) J test, the minimised two-step criterion ``ê2'Z A2 Z'ê2``:
  robust, but weakened by many instruments (Roodman 2009, section 2.6).
- Difference-in-Hansen tests of instrument subsets: the model is re-estimated
  without one group of instruments, weighting the remaining moments with the
  matching block of the full two-step moment covariance (Roodman 2009, note 24).
- Arellano and Bond (1991) test for serial correlation of order ``m`` in the
  first-differenced residuals; its variance accounts for the estimated
  coefficients (Roodman 2009, eqs. 27-28).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from fiproxy.estimators.gmm_estimate import GMMSteps, sym_inverse

__all__ = ["sargan", "hansen", "difference_hansen", "ar_test"]


def _chi2(stat: float, df: int) -> dict:
    p = float(stats.chi2.sf(stat, df)) if df > 0 else float("nan")
    return {"stat": float(stat), "df": int(df), "p": p}


def sargan(fit: GMMSteps, k: int) -> dict:
    g = fit.ze1.sum(axis=0)
    return _chi2(g @ fit.a1 @ g / fit.sig2, fit.a1.shape[0] - k)


def hansen(fit: GMMSteps, k: int) -> dict:
    g = fit.ze2.sum(axis=0)
    return _chi2(g @ fit.a2 @ g, fit.a2.shape[0] - k)


def difference_hansen(fit: GMMSteps, x: np.ndarray, y: np.ndarray, z: np.ndarray,
                      groups: dict[str, np.ndarray], j_stat: float) -> dict:
    """For each group: Hansen J without the group and the difference from the full J.

    Groups whose removal leaves fewer instruments than regressors (or none
    removed) are skipped.
    """
    n, r, j = z.shape
    k = x.shape[2]
    out = {}
    for name, cols in groups.items():
        keep = np.setdiff1d(np.arange(j), cols)
        if len(keep) < k or len(keep) >= j:
            continue
        a_p, _ = sym_inverse(fit.s2[np.ix_(keep, keep)])
        zx, zy = fit.zx[keep], fit.zy[keep]
        xza = zx.T @ a_p
        vu, _ = sym_inverse(xza @ zx)
        b = vu @ (xza @ zy)
        e = y - x @ b
        g = np.einsum("nrj,nr->j", z[:, :, keep], e)
        excl = float(g @ a_p @ g)
        out[name] = {
            "excluding": _chi2(excl, len(keep) - k),
            "difference": _chi2(j_stat - excl, j - len(keep)),
        }
    return out


def ar_test(order: int, w: np.ndarray, x_w: np.ndarray, *, v: np.ndarray, vu: np.ndarray,
            zx: np.ndarray, a: np.ndarray, ze: np.ndarray | None = None,
            z: np.ndarray | None = None, cov_map: np.ndarray | None = None,
            fd_cov: np.ndarray | None = None, sig2: float = 1.0) -> dict:
    """Arellano-Bond z test for autocorrelation of ``order`` in differenced residuals.

    ``w`` (N, T) differenced residuals (zero outside the sample) and ``x_w`` (N, T, k)
    the differenced regressors of the same rows; ``v`` the covariance of the
    estimates; ``vu``, ``zx``, ``a`` define the estimator ``vu X'Z A Z'Y``.
    Robust form: ``ze`` (N, j) holds ``Z_i'ê_i`` of the estimation residuals.
    Under i.i.d. errors instead: ``z``, ``cov_map`` (N, R, T) =
    Cov(estimation-row errors, differenced errors) / σ² and ``fd_cov`` (N, T, T)
    = Var(differenced errors) / σ².
    """
    wl = np.zeros_like(w)
    wl[:, order:] = w[:, :-order]
    s = (w * wl).sum(axis=1)
    num = float(s.sum())
    if not np.any(s):
        return {"z": float("nan"), "p": float("nan")}
    if ze is not None:
        whw = float((s * s).sum())
        zhw = ze.T @ s
    else:
        whw = sig2 * float(np.einsum("nt,nts,ns->", wl, fd_cov, wl))
        zhw = sig2 * np.einsum("nrj,nrt,nt->j", z, cov_map, wl, optimize=True)
    tmp = np.einsum("ntk,nt->k", x_w, wl)
    var = whw - 2 * tmp @ (vu @ zx.T @ a @ zhw) + tmp @ v @ tmp
    zstat = num / np.sqrt(var) if var > 0 else float("nan")
    return {"z": float(zstat), "p": float(2 * stats.norm.sf(abs(zstat)))}
