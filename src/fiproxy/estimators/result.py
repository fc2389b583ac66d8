"""One result type for every estimator in fiproxy.

Every estimator returns a :class:`Result`: coefficient vector, its covariance
matrix, the reference distribution for tests (Student-t with stated degrees of
freedom, or the normal), fit statistics, the exact specification and any
warnings raised while fitting. Inference can be recomputed without refitting
through :meth:`Result.vcov_as` when the estimator supplied a covariance
callback (linear models do).

The layout follows linearmodels' split between estimates and covariance and
fixest's ``coeftable``/``etable`` conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats as _st

__all__ = ["Result"]


@dataclass(frozen=True)
class Result:
    """Estimates, inference and provenance of one fitted model.

    Parameters
    ----------
    params : pandas.Series
        Point estimates indexed by parameter name.
    vcov : pandas.DataFrame
        Covariance matrix of ``params`` (same index and columns).
    nobs : int
        Observations used in estimation (after dropping singletons / missing rows).
    model : str
        Estimator name, e.g. ``"twfe"``, ``"iv-2sls"``, ``"threshold"``.
    spec : dict
        The exact specification (formula, fixed effects, covariance request,
        weights, sample restrictions, options) as the user gave it and as resolved.
    df_t : float or None
        Degrees of freedom of the Student-t reference distribution for t-tests
        and confidence intervals; ``None`` means the standard normal.
    vcov_type : str
        Human-readable description of the covariance, e.g. ``"CRV1 by prov_code (G=31)"``.
    stats : dict
        Fit statistics (``r2``, ``r2_within``, ``rss``, ``loglik``, ``F`` …) and
        estimator-specific diagnostics (first-stage F, Hansen J, AR tests …).
    warnings : tuple of str
        Problems found while fitting that did not prevent a result
        (dropped singletons, collinear regressors removed, listwise deletion).
    extra : dict
        Estimator-specific objects (first stages, bootstrap draws, SSR profiles …).
    """

    params: pd.Series
    vcov: pd.DataFrame
    nobs: int
    model: str
    spec: dict
    df_t: float | None = None
    vcov_type: str = ""
    stats: dict = field(default_factory=dict)
    warnings: tuple = ()
    extra: dict = field(default_factory=dict)
    _vcov_fn: Callable[[Any], tuple] | None = field(
        default=None, repr=False, compare=False
    )

    # ------------------------------------------------------------------ inference
    @property
    def se(self) -> pd.Series:
        """Standard errors: square roots of the covariance diagonal.

        A negative variance (possible for multiway cluster covariances, Cameron, Gelbach and
        Miller 2011) gives NaN, never a misleading 0; the covariance label says so.
        """
        d = np.diag(self.vcov.to_numpy())
        with np.errstate(invalid="ignore"):
            se = np.where(d >= 0, np.sqrt(np.abs(d)), np.nan)
        return pd.Series(se, index=self.params.index, name="se")

    @property
    def tstat(self) -> pd.Series:
        """t (or z) statistics for H0: parameter = 0."""
        return (self.params / self.se).rename("t")

    @property
    def pvalue(self) -> pd.Series:
        """Two-sided p-values from the reference distribution (``df_t``)."""
        t = np.abs(self.tstat.to_numpy())
        p = 2 * (_st.t.sf(t, self.df_t) if self.df_t is not None else _st.norm.sf(t))
        return pd.Series(p, index=self.params.index, name="p")

    def critical_value(self, level: float = 0.95) -> float:
        """Two-sided critical value of the reference distribution."""
        q = 1 - (1 - level) / 2
        return float(_st.t.ppf(q, self.df_t) if self.df_t is not None else _st.norm.ppf(q))

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Wald confidence intervals at ``level`` (default 95%)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        c = self.critical_value(level)
        lo, hi = self.params - c * self.se, self.params + c * self.se
        return pd.DataFrame({"lower": lo, "upper": hi})

    @property
    def r2(self) -> float | None:
        return self.stats.get("r2")

    @property
    def r2_within(self) -> float | None:
        return self.stats.get("r2_within")

    def vcov_as(self, vcov: Any) -> "Result":
        """Recompute inference with another covariance without refitting.

        ``vcov`` takes the same values as the estimator's ``vcov`` argument
        (``"iid"``, ``"HC1"``, ``{"CRV1": "prov_code"}``, …).
        """
        if self._vcov_fn is None:
            raise NotImplementedError(
                f"the {self.model!r} estimator does not support recomputing the covariance; refit instead"
            )
        V, df_t, label, *cov_stats = self._vcov_fn(vcov)
        spec = dict(self.spec)
        spec["vcov"] = vcov
        stats = {k: v for k, v in self.stats.items() if k != "n_clusters"}  # a property of the old covariance
        if cov_stats:
            stats.update(cov_stats[0])
        return replace(self, vcov=V, df_t=df_t, vcov_type=label, spec=spec, stats=stats)

    def wald_test(self, R: np.ndarray | pd.DataFrame, r: np.ndarray | None = None) -> dict:
        """Wald test of ``R @ params = r`` using this result's covariance.

        Returns the statistic, its degrees of freedom and p-value; with a t
        reference distribution the F form (statistic / q on (q, df_t)) is used,
        as in Stata's ``test`` after ``regress``/``reghdfe``.
        """
        R = np.atleast_2d(np.asarray(R, dtype=float))
        b = self.params.to_numpy()
        r = np.zeros(R.shape[0]) if r is None else np.asarray(r, dtype=float)
        d = R @ b - r
        W = float(d @ np.linalg.solve(R @ self.vcov.to_numpy() @ R.T, d))
        q = R.shape[0]
        if self.df_t is None:
            return {"stat": W, "df": q, "pvalue": float(_st.chi2.sf(W, q)), "dist": "chi2"}
        F = W / q
        return {"stat": F, "df": (q, self.df_t), "pvalue": float(_st.f.sf(F, q, self.df_t)), "dist": "F"}

    # ------------------------------------------------------------------ display
    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """Coefficient table: estimate, se, t, p, confidence bounds."""
        ci = self.conf_int(level)
        return pd.DataFrame(
            {
                "estimate": self.params,
                "se": self.se,
                "t": self.tstat,
                "p": self.pvalue,
                "ci_lower": ci["lower"],
                "ci_upper": ci["upper"],
            }
        )

    def summary(self) -> str:
        """Plain-text summary in the spirit of fixest's ``summary()``."""
        lines = [f"Estimator: {self.model}"]
        for key in ("formula", "fe", "outcome"):
            if self.spec.get(key):
                lines.append(f"{key.capitalize()}: {self.spec[key]}")
        lines.append(f"Observations: {self.nobs}")
        lines.append(f"Covariance: {self.vcov_type}"
                     + (f"; t({self.df_t:g}) reference" if self.df_t is not None else "; normal reference"))
        tab = self.to_frame().copy()
        tab["stars"] = tab["p"].map(_stars)
        lines.append(tab.to_string(float_format=lambda v: f"{v:.6g}"))
        fit = {k: v for k, v in self.stats.items() if isinstance(v, (int, float, np.floating, np.integer))}
        if fit:
            lines.append("  ".join(f"{k}: {float(v):.6g}" for k, v in fit.items()))
        lines.append("Signif. codes: *** 0.01, ** 0.05, * 0.10")
        for w in self.warnings:
            lines.append(f"Warning: {w}")
        return "\n".join(lines)

    def __repr__(self) -> str:  # pragma: no cover - display only
        return self.summary()

    def __str__(self) -> str:
        return self.summary()


def _stars(p: float) -> str:
    if p < 0.01:
        return "***"
    if p < 0.05:
        return "**"
    if p < 0.10:
        return "*"
    return ""
