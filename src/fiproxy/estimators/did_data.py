"""Staggered-adoption panels for difference-in-differences estimators.

Checks a long panel (one row per unit and period) and turns it into the wide
arrays the staggered DiD estimators work on: outcome matrix (units × periods),
treatment cohort of each unit (first treated period, ``inf`` for never
treated), time-invariant unit weights and cluster codes.

Conventions follow Callaway & Sant'Anna (2021), "Difference-in-differences with
multiple time periods", Journal of Econometrics 225(2): 200–230: a unit's
*cohort* ``G`` is the first period in which it is treated; treatment is an
absorbing state (once treated, always treated); units never treated in the
sample form cohort ``G = ∞`` (coded 0, missing or ∞ in the input).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["StaggeredPanel", "prepare_panel", "check_columns", "parse_covariates", "DiDInputError"]


class DiDInputError(ValueError):
    """The data or options given to a difference-in-differences estimator are not usable."""


@dataclass(frozen=True)
class StaggeredPanel:
    """A balanced staggered-adoption panel in wide form.

    Attributes
    ----------
    unit_ids : ndarray (n,)
        Unit identifiers, sorted.
    times : ndarray (T,)
        Periods, sorted ascending.
    cohort : ndarray (n,) float
        First treated period of each unit; ``inf`` for never treated.
    Y : ndarray (n, T)
        Outcome.
    X : ndarray (n, T, k)
        Covariates (k may be 0).
    covariates : list of str
        Covariate names (columns of ``X``).
    weights : ndarray (n,)
        Unit sampling weights normalized to mean 1.
    cluster : ndarray (n,) of int
        Cluster code of each unit (the unit itself unless a cluster variable is given).
    notes : tuple of str
        Sample adjustments made (units dropped, cohorts recoded).
    """

    unit_ids: np.ndarray
    times: np.ndarray
    cohort: np.ndarray
    Y: np.ndarray
    X: np.ndarray
    covariates: list
    weights: np.ndarray
    cluster: np.ndarray
    notes: tuple = field(default=())

    @property
    def n(self) -> int:
        return len(self.unit_ids)

    @property
    def cohorts(self) -> np.ndarray:
        """Treated cohorts present in the panel, ascending."""
        return np.unique(self.cohort[np.isfinite(self.cohort)])


def check_columns(data: pd.DataFrame, names: dict) -> None:
    """Raise :class:`DiDInputError` for columns that are not in ``data``, suggesting close names.

    ``names`` maps the role of a column (``"outcome"``, ``"unit"``…) to its name.
    """
    if not isinstance(data, pd.DataFrame):
        raise DiDInputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    cols = [str(c) for c in data.columns]
    for role, name in names.items():
        if name is None:
            continue
        if name not in data.columns:
            close = difflib.get_close_matches(str(name), cols, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise DiDInputError(f"{role} column {name!r} is not in the data{hint}")


def parse_covariates(covariates) -> list:
    """Covariate names from a list or a right-hand-side formula ``"~ x1 + x2"``.

    ``None``, ``"~1"`` and ``[]`` mean no covariates (unconditional parallel trends).
    Only plain column names are accepted: build transformed covariates as columns first.
    """
    if covariates is None:
        return []
    if isinstance(covariates, str):
        rhs = covariates.split("~", 1)[-1]
        terms = [t.strip() for t in rhs.split("+") if t.strip()]
        terms = [t for t in terms if t != "1"]
        for t in terms:
            if not t.replace("_", "a").replace(".", "a").isalnum():
                raise DiDInputError(
                    f"covariate term {t!r} is not a plain column name; create the transformed "
                    "variable as a column and list it by name"
                )
        return terms
    out = list(covariates)
    for t in out:
        if not isinstance(t, str):
            raise DiDInputError(f"covariates must be column names, got {t!r}")
    return out


def _cohort_from_treatment(d: pd.DataFrame, unit: str, time: str, treatment: str) -> pd.Series:
    """First treated period per unit from a 0/1 treatment indicator; error if treatment switches off."""
    tr = d[treatment]
    if tr.isna().any():
        rows = d.loc[tr.isna(), [unit, time]].head(5).to_records(index=False).tolist()
        raise DiDInputError(f"treatment column {treatment!r} has missing values at (unit, period) {rows}")
    vals = set(pd.unique(tr.astype(float)))
    if not vals <= {0.0, 1.0}:
        raise DiDInputError(f"treatment column {treatment!r} must be 0/1, found values {sorted(vals)[:6]}")
    s = d[[unit, time, treatment]].sort_values([unit, time])
    on = s[treatment].astype(float).to_numpy()
    same = s[unit].to_numpy()[1:] == s[unit].to_numpy()[:-1]
    off = np.flatnonzero(same & (on[:-1] == 1) & (on[1:] == 0)) + 1
    if off.size:
        bad = s.iloc[off][[unit, time]]
        lst = ", ".join(f"unit {u} in {t}" for u, t in bad.head(5).itertuples(index=False))
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DiDInputError(
            f"treatment switches off (1 then 0) for {bad[unit].nunique()} unit(s): {lst}{more}. "
            "Staggered DiD assumes an absorbing treatment (once treated, always treated)."
        )
    first = s.loc[on == 1].groupby(unit)[time].min().astype(float)
    return first.reindex(pd.unique(s[unit])).fillna(np.inf)


def prepare_panel(
    data: pd.DataFrame,
    y: str,
    unit: str,
    time: str,
    cohort: str | None = None,
    treatment: str | None = None,
    covariates=None,
    weights: str | None = None,
    cluster: str | None = None,
    anticipation: int = 0,
    require_balanced: bool = True,
) -> StaggeredPanel:
    """Validate a long panel and build the :class:`StaggeredPanel`.

    Exactly one of ``cohort`` (first treated period; 0, missing or ∞ = never
    treated) and ``treatment`` (0/1 indicator by period, absorbing) is given.
    Units already treated in the first period (no pre-treatment period, given
    ``anticipation``) are dropped, and cohorts first treated after the last
    period count as never treated; both adjustments are listed in ``notes``.
    """
    if (cohort is None) == (treatment is None):
        raise DiDInputError("give exactly one of cohort= (first treated period) or treatment= (0/1 indicator)")
    covs = parse_covariates(covariates)
    check_columns(data, {"outcome": y, "unit": unit, "time": time, "cohort": cohort,
                         "treatment": treatment, "weights": weights, "cluster": cluster})
    for c in covs:
        check_columns(data, {"covariate": c})
    if not isinstance(anticipation, (int, np.integer)) or anticipation < 0:
        raise DiDInputError(f"anticipation must be a non-negative integer, got {anticipation!r}")

    keep = list(dict.fromkeys([y, unit, time] + [c for c in (cohort, treatment, weights, cluster) if c] + covs))
    d = data[keep]
    for role, col in (("unit", unit), ("time", time)):
        if d[col].isna().any():
            raise DiDInputError(f"{role} column {col!r} has {int(d[col].isna().sum())} missing values")
    if not pd.api.types.is_numeric_dtype(d[time]):
        raise DiDInputError(f"time column {time!r} must be numeric (e.g. the year), got dtype {d[time].dtype}")
    dup = d.duplicated([unit, time])
    if dup.any():
        rows = d.loc[dup, [unit, time]].head(5).to_records(index=False).tolist()
        raise DiDInputError(f"{int(dup.sum())} duplicated (unit, period) rows, e.g. {rows}; the panel needs one row per unit and period")
    for role, col in [("outcome", y)] + [("covariate", c) for c in covs]:
        if not pd.api.types.is_numeric_dtype(d[col]):
            raise DiDInputError(f"{role} column {col!r} must be numeric, got dtype {d[col].dtype}")
        miss = d[col].isna()
        if miss.any():
            rows = d.loc[miss, [unit, time]].head(5).to_records(index=False).tolist()
            raise DiDInputError(
                f"{role} column {col!r} has {int(miss.sum())} missing values at (unit, period) {rows}; "
                "missing data are not imputed: drop those units or fill the values yourself"
            )
        inf = np.isinf(d[col].to_numpy(dtype=float))
        if inf.any():
            rows = d.loc[inf, [unit, time]].head(5).to_records(index=False).tolist()
            raise DiDInputError(f"{role} column {col!r} has {int(inf.sum())} infinite values at (unit, period) {rows} "
                                "(e.g. the log of zero); fix the data first")

    u_codes, u_ids = pd.factorize(d[unit], sort=True)
    t_codes, t_vals = pd.factorize(d[time], sort=True)
    n, T = len(u_ids), len(t_vals)
    if T < 2:
        raise DiDInputError(f"difference-in-differences needs at least two periods; {time!r} has {T}")
    present = np.zeros((n, T), dtype=bool)
    present[u_codes, t_codes] = True
    if require_balanced and not present.all():
        bad = np.flatnonzero(~present.all(axis=1))
        times = np.asarray(t_vals)
        desc = "; ".join(f"unit {u_ids[i]} lacks {', '.join(str(v) for v in times[~present[i]])}" for i in bad[:5])
        more = f"; and {len(bad) - 5} more units" if len(bad) > 5 else ""
        raise DiDInputError(
            f"unbalanced panel: {len(bad)} of {n} units are not observed in every period ({desc}{more}). "
            "This estimator needs a balanced panel: drop those units or restrict the periods."
        )

    def wide(col: str) -> np.ndarray:
        out = np.full((n, T), np.nan)
        out[u_codes, t_codes] = d[col].to_numpy(dtype=float)
        return out

    def per_unit(col: str, role: str) -> pd.Series:
        g = d.groupby(u_codes)[col]
        varying = g.nunique(dropna=False) > 1
        if varying.any():
            ex = ", ".join(str(u_ids[i]) for i in np.flatnonzero(varying.to_numpy())[:5])
            raise DiDInputError(f"{role} column {col!r} must be constant within each unit; it varies for units {ex}")
        return g.first()

    notes = []
    if cohort is not None:
        g = per_unit(cohort, "cohort").astype(float).to_numpy()
        g = np.where(np.isnan(g) | (g == 0), np.inf, g)
    else:
        g = _cohort_from_treatment(d, unit, time, treatment).reindex(u_ids).to_numpy(dtype=float)
    times = np.asarray(t_vals, dtype=float)
    late = np.isfinite(g) & (g > times[-1])
    if late.any():
        notes.append(f"{int(late.sum())} units first treated after the last period ({times[-1]:g}) count as never treated")
        g = np.where(late, np.inf, g)
    early = np.isfinite(g) & (g <= times[0] + anticipation)
    w = per_unit(weights, "weights").to_numpy(dtype=float) if weights else np.ones(n)
    if weights and (~np.isfinite(w) | (w < 0)).any():
        raise DiDInputError(f"weights column {weights!r} must be finite and non-negative")
    cl = per_unit(cluster, "cluster") if cluster else None
    if cl is not None and cl.isna().any():
        raise DiDInputError(f"cluster column {cluster!r} has missing values")
    keep_u = ~early
    if early.any():
        notes.append(
            f"dropped {int(early.sum())} units treated in the first period ({times[0]:g}"
            + (f" + {anticipation} anticipation periods" if anticipation else "") + "): no pre-treatment period"
        )
    Y = wide(y)[keep_u]
    X = np.stack([wide(c)[keep_u] for c in covs], axis=2) if covs else np.zeros((int(keep_u.sum()), T, 0))
    w = w[keep_u]
    if w.sum() <= 0:
        raise DiDInputError("all unit weights are zero")
    clus = (pd.factorize(cl.to_numpy()[keep_u], sort=True)[0] if cl is not None
            else np.arange(int(keep_u.sum())))
    n_clus = int(clus.max()) + 1 if clus.size else 0
    if n_clus <= 10:  # two-point multipliers: at most 2^G distinct bootstrap draws (< 2000, as the wild bootstrap)
        what = f"clusters of {cluster!r}" if cl is not None else "units (the bootstrap clusters)"
        notes.append(f"only {n_clus} {what}: the multiplier bootstrap has at most 2^{n_clus} = {2 ** n_clus} distinct "
                     "draws and cluster-robust standard errors are unreliable with so few clusters")
    return StaggeredPanel(
        unit_ids=np.asarray(u_ids)[keep_u], times=times, cohort=g[keep_u], Y=Y, X=X, covariates=covs,
        weights=w / w.mean(), cluster=clus, notes=tuple(notes),
    )
