"""Slopes of the panel threshold model at given thresholds and their covariance.

At fixed thresholds the model is linear: a within (fixed-effects) regression
of y on the regime-independent regressors and on z split by regime. The
covariance options follow fixest / Stata ``xtreg, fe`` conventions:

- ``"iid"``: s^2 (X'X)^-1 with s^2 = SSR / (N - G - K) (G units absorbed);
- ``"hansen"``: s^2 = SSR / (N - G), Hansen's (1999) sigma-hat^2 = S / (n(T - 1));
- ``{"CRV1": col}`` or ``"CRV1"`` (by the panel unit): cluster-robust sandwich with
  small-sample factor G_c/(G_c - 1) * (N - 1)/(N - K'), t(G_c - 1) reference, where
  K' = K + 1 when the unit effects are nested in the clusters (fixest's rule; Stata
  counts the constant of ``xtreg, fe``) and K' = K + G otherwise.

N is the number of observations before the transformation; with Hansen's
stacking (one period deleted per unit) the N - G rows kept already carry the
N - G residual degrees of freedom.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fiproxy.estimators.threshold_search import orthonormal_basis

__all__ = ["regime_design", "regime_names", "fit_slopes", "slope_vcov"]


def regime_names(zcols: list[str], thresholds: list[float]) -> list[str]:
    """Names like ``c1[q<=0.0157]``, ``c1[0.0157<q<=0.54]``, ``c1[q>0.54]`` per regime and regressor."""
    fmt = [f"{g:.6g}" for g in thresholds]
    labels = [f"q<={fmt[0]}"]
    labels += [f"{a}<q<={b}" for a, b in zip(fmt[:-1], fmt[1:])]
    labels.append(f"q>{fmt[-1]}")
    return [f"{c}[{lab}]" for lab in labels for c in zcols]


def regime_design(z: np.ndarray, q: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """z split by regime: columns z*1(q<=g1), z*1(g1<q<=g2), ..., z*1(q>gm)."""
    edges = [-np.inf] + list(thresholds) + [np.inf]
    blocks = [z * ((q > lo) & (q <= hi))[:, None] for lo, hi in zip(edges[:-1], edges[1:])]
    return np.hstack(blocks)


def fit_slopes(Xt: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS on transformed data: (coefficients, residuals, (X'X)^-1); error if singular."""
    try:
        orthonormal_basis(Xt)
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            "the threshold model's design is singular at the estimated thresholds: a regime "
            "has no within-unit variation in a regime-dependent regressor, or a regressor is "
            "collinear with others; reduce n_thresholds or increase trim") from exc
    XtX = Xt.T @ Xt
    beta = np.linalg.solve(XtX, Xt.T @ y)
    return beta, y - Xt @ beta, np.linalg.inv(XtX)


def slope_vcov(vcov, Xt: np.ndarray, resid: np.ndarray, bread: np.ndarray, unit: np.ndarray,
               clusters: dict[str, np.ndarray], nobs: int) -> tuple[np.ndarray, float | None, str]:
    """Covariance of the slopes, degrees of freedom of the t reference, and a label.

    ``unit`` holds the unit codes of the rows; ``clusters`` maps cluster column
    names to integer codes (the first entry is the unit id); ``nobs`` is the number
    of observations before the transformation (N), so that N - G is the residual
    degrees of freedom of the within estimator and of Hansen's stacking alike.
    """
    n_units = int(unit.max()) + 1
    k = Xt.shape[1]
    ssr = float(resid @ resid)
    if vcov == "iid":
        dof = nobs - n_units - k
        return bread * ssr / dof, float(dof), "iid"
    if vcov == "hansen":
        dof = nobs - n_units
        return bread * ssr / dof, float(dof - k), "iid, Hansen (1999) sigma^2 = SSR/(N - G)"
    if vcov == "CRV1":
        col = next(iter(clusters))
    elif isinstance(vcov, dict) and list(vcov) == ["CRV1"]:
        col = vcov["CRV1"]
        if col not in clusters:
            raise ValueError(f"cluster variable {col!r} not available; pass it as cluster column "
                             f"(available: {sorted(clusters)})")
    else:
        raise ValueError(f"vcov must be 'iid', 'hansen', 'CRV1' or {{'CRV1': column}}, got {vcov!r}")
    codes = clusters[col]
    G = int(codes.max()) + 1
    nested = bool((pd.Series(codes).groupby(unit).nunique() == 1).all())
    if G < 2:
        raise ValueError(f"cluster-robust covariance needs at least 2 clusters in {col!r}")
    scores = pd.DataFrame(Xt * resid[:, None]).groupby(codes).sum().to_numpy()
    meat = scores.T @ scores
    k_fe = 1 if nested else n_units
    adj = G / (G - 1) * (nobs - 1) / (nobs - k - k_fe)
    return adj * bread @ meat @ bread, float(G - 1), f"CRV1 by {col} (G={G})"
