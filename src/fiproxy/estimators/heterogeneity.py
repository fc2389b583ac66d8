"""Heterogeneous effects: moderator interactions, split samples with cluster-robust tests of
equal coefficients, and groupings by region or terciles.

- :func:`interaction` adds ``moderator`` and ``treatment:moderator`` (moderator centred) to a
  :func:`fiproxy.twfe` model and reports marginal effects ``b_x + b_xm (m - centre)`` with
  delta-method standard errors at chosen moderator values (Brambor, Clark & Golder 2006,
  "Understanding interaction models", Political Analysis 14: 63-82).
- :func:`compare_groups` fits the model separately in every group (own fixed effects and
  slopes) and stacks the groups' scores into one cluster-robust covariance, the
  seemingly-unrelated-estimation approach of Stata's ``suest`` (Weesie 1999, Stata Technical
  Bulletin 52: sg121); it equals the covariance of the fully interacted model with
  group-specific fixed effects. Clusters that span groups (e.g. years when groups are regions)
  make the group estimates correlated, which the test of equal coefficients accounts for.
  Small-sample factor: fixest's CRV1 factor with ``K`` = all groups' slopes plus their
  absorbed fixed-effect degrees of freedom.
- :func:`by_groups` forms the groups from the province registry (``region4``: east, central,
  west, northeast; ``belt3``: the three economic belts) or terciles of a variable's
  province mean, and calls :func:`compare_groups`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy import stats as _st

from fiproxy.estimators.design import DesignError, check_columns
from fiproxy.estimators.formula import parse_formula
from fiproxy.estimators.inference.vcov import VcovError, VcovInputs, compute_vcov, parse_vcov
from fiproxy.estimators.result import Result
from fiproxy.estimators.twfe import twfe

__all__ = ["interaction", "compare_groups", "split_sample", "by_groups", "group_labels"]

REGION_GROUPS = ("region4", "belt3")


def _split_formula(formula: str) -> tuple[str, str]:
    main, sep, rest = formula.partition("|")
    return main.strip(), (f" | {rest.strip()}" if sep else "")


def interaction(formula: str, data: pd.DataFrame, treatment: str, moderator: str, vcov: Any = "iid", *,
                center: str | float | None = "mean", at: Sequence[float] | None = None, level: float = 0.95,
                **kwargs) -> Result:
    """twfe with ``treatment × moderator``; marginal effects of ``treatment`` along the moderator.

    ``center``: ``"mean"`` (default; sample mean of the moderator), a number, or None.
    ``at``: moderator values (original scale) for ``extra["marginal_effects"]``; default the
    10/25/50/75/90th percentiles. The moderator enters as ``<moderator>_c`` (centred).
    """
    parsed = parse_formula(formula)
    check_columns(data, list(parsed.columns) + [moderator])
    if treatment not in {t.label for t in parsed.terms}:
        raise DesignError(f"treatment {treatment!r} is not a regressor of {formula!r}")
    if not pd.api.types.is_numeric_dtype(data[moderator]):
        raise DesignError(f"moderator {moderator!r} is not numeric (dtype {data[moderator].dtype}); "
                          "use compare_groups for categorical moderators")
    mod = data[moderator]
    c = float(mod.mean()) if center == "mean" else (0.0 if center is None else float(center))
    name = f"{moderator}_c"
    if name in data.columns:
        raise DesignError(f"column {name!r} already exists; rename it")
    main, tail = _split_formula(formula)
    f = f"{main} + {name} + {treatment}:{name}{tail}"
    r = twfe(f, data.assign(**{name: mod - c}), vcov=vcov, **kwargs)
    inter = f"{treatment}:{name}"
    if inter not in r.params.index:
        raise DesignError(f"the interaction {inter} was dropped as collinear; the moderator has no variation "
                          "within the fixed effects")
    at = np.nanpercentile(mod, [10, 25, 50, 75, 90]) if at is None else np.asarray(at, dtype=float)
    V = r.vcov.loc[[treatment, inter], [treatment, inter]].to_numpy()
    G = np.column_stack([np.ones(len(at)), at - c])
    est = G @ r.params[[treatment, inter]].to_numpy()
    se = np.sqrt(np.einsum("ij,jk,ik->i", G, V, G))
    crit = r.critical_value(level)
    t = est / se
    p = 2 * (_st.t.sf(np.abs(t), r.df_t) if r.df_t is not None else _st.norm.sf(np.abs(t)))
    me = pd.DataFrame({"moderator": at, "effect": est, "se": se, "t": t, "p": p,
                       "ci_lower": est - crit * se, "ci_upper": est + crit * se})
    extra = dict(r.extra)
    extra["marginal_effects"] = me
    spec = dict(r.spec)
    spec.update(treatment=treatment, moderator=moderator, center=c)
    return replace(r, model="twfe-interaction", spec=spec, extra=extra)


def _stack(fits: dict, req, time) -> tuple[np.ndarray, float, str, dict]:
    """Joint covariance of the groups' coefficients from their stacked scores."""
    designs = [r.extra["design"] for r in fits.values()]
    if req.kind == "iid":
        V = sla.block_diag(*[r.vcov.to_numpy() for r in fits.values()])
        return V, float(min(r.df_t for r in fits.values())), "iid (by group)", {}
    if req.kind in ("HC2", "HC3", "CRV3"):
        raise VcovError(f"group comparisons support iid, HC1, CRV1 and DK covariances, not {req.kind}")
    ks = [d.k for d in designs]
    off = np.concatenate([[0], np.cumsum(ks)])
    n = sum(d.nobs for d in designs)
    scores = np.zeros((n, off[-1]))
    breads, fe, row = [], [], 0
    m = designs[0].fe_codes.shape[1]
    fe_off = np.zeros(m, dtype=np.int64)
    for g, d in enumerate(designs):
        ws = d.resid if d.weights is None else d.weights * d.resid
        scores[row:row + d.nobs, off[g]:off[g + 1]] = d.X * ws[:, None]
        Xw = d.X if d.weights is None else d.X * d.weights[:, None]
        B = np.linalg.inv(d.X.T @ Xw)
        breads.append((B + B.T) / 2)
        fe.append(d.fe_codes + fe_off)
        fe_off = fe_off + (d.fe_codes.max(axis=0) + 1 if m else 0)
        row += d.nobs
    frame = pd.concat([d.frame for d in designs])
    inp = VcovInputs(bread=sla.block_diag(*breads), scores=scores, resid=np.zeros(n),
                     X=np.zeros((n, off[-1])), weights=None, df_fe=sum(d.df_fe for d in designs),
                     fe_codes=np.vstack(fe) if m else np.empty((n, 0), dtype=np.int64), frame=frame, time=time)
    out = compute_vcov(req, inp)
    return out.V, out.df_t, out.label, out.info


def compare_groups(formula: str, data: pd.DataFrame, by: str, vcov: Any = "iid", *,
                   params: Sequence[str] | None = None, **kwargs) -> Result:
    """Fit ``formula`` in every group of ``by``; test equality of coefficients across groups.

    Returns a Result (``model="split-sample"``) whose params are ``name[group]``, with the
    stacked cluster-robust covariance; ``stats["equality_tests"]`` holds one Wald test per
    coefficient (H0: equal in all groups) and ``stats["joint_equality"]`` the joint test of all
    ``params`` (default: every coefficient estimated in all groups); ``extra["groups"]`` the
    per-group Results (with their own covariance) and ``extra["table"]`` estimates by group.
    """
    check_columns(data, [by])
    if data[by].isna().any():
        rows = data.index[data[by].isna().to_numpy()][:10].tolist()
        raise DesignError(f"group variable {by!r} has missing values (rows {rows})")
    levels = sorted(pd.unique(data[by]), key=str)
    if len(levels) < 2:
        raise DesignError(f"group variable {by!r} has a single group; nothing to compare")
    req = parse_vcov(vcov)
    fits: dict = {}
    for lv in levels:
        try:
            fits[lv] = twfe(formula, data[data[by] == lv], vcov=req, **kwargs)
        except (DesignError, ValueError) as exc:
            raise type(exc)(f"group {by}={lv!r}: {exc}") from None
    common = [p for p in fits[levels[0]].params.index if all(p in f.params.index for f in fits.values())]
    params = common if params is None else list(params)
    missing = [p for p in params if p not in common]
    if missing:
        raise DesignError(f"coefficient(s) {missing} are not estimated in every group (common: {common})")
    time = fits[levels[0]].spec["panel_id"][1] if fits[levels[0]].spec.get("panel_id") else None
    V, df_t, label, info = _stack(fits, req, time)
    names = [f"{p}[{lv}]" for lv in levels for p in fits[lv].params.index]
    est = pd.Series(np.concatenate([f.params.to_numpy() for f in fits.values()]), index=names, name="estimate")
    res = Result(params=est, vcov=pd.DataFrame((V + V.T) / 2, index=names, columns=names),
                 nobs=sum(f.nobs for f in fits.values()), model="split-sample",
                 spec={"formula": formula, "by": by, "groups": levels, "vcov": req.spec}, df_t=df_t,
                 vcov_type=label, extra={"groups": fits})
    tests = {}
    for p in params:
        R = np.zeros((len(levels) - 1, len(names)))
        for i, lv in enumerate(levels[1:]):
            R[i, names.index(f"{p}[{lv}]")] = 1
            R[i, names.index(f"{p}[{levels[0]}]")] = -1
        tests[p] = res.wald_test(R)
    R = np.vstack([np.eye(len(names))[[names.index(f"{p}[{lv}]") for lv in levels[1:]]]
                   - np.eye(len(names))[[names.index(f"{p}[{levels[0]}]")] * (len(levels) - 1)]
                   for p in params])
    table = pd.DataFrame({lv: fits[lv].params[params] for lv in levels})
    stats = {"equality_tests": pd.DataFrame(tests).T, "joint_equality": res.wald_test(R),
             "nobs_by_group": {lv: f.nobs for lv, f in fits.items()}}
    if "n_clusters" in info:
        stats["n_clusters"] = info["n_clusters"]
    return replace(res, stats=stats, extra={"groups": fits, "table": table})


split_sample = compare_groups


def group_labels(data: pd.DataFrame, groups: str, *, unit: str = "prov_code") -> pd.Series:
    """Group label per row: registry ``region4``/``belt3`` of ``unit``, or ``"terciles:var"``
    (low/mid/high terciles of the unit's mean of ``var`` over the rows given)."""
    check_columns(data, [unit])
    if groups in REGION_GROUPS:
        from fiproxy.data.registry import provinces

        reg = provinces()[groups]
        lab = data[unit].map(reg)
        bad = data[unit][lab.isna()].unique()
        if len(bad):
            raise DesignError(f"{unit} value(s) {list(bad[:10])} are not province codes of the registry")
        return lab.rename(groups)
    if isinstance(groups, str) and groups.startswith("terciles:"):
        var = groups.split(":", 1)[1].strip()
        check_columns(data, [var])
        means = data.groupby(unit)[var].mean().dropna()
        if len(means) < 3:
            raise DesignError(f"terciles of {var!r} need at least 3 units with data, got {len(means)}")
        cut = pd.qcut(means.rank(method="first"), 3, labels=["low", "mid", "high"])
        lab = data[unit].map(cut.astype(str))
        if lab.isna().any():
            raise DesignError(f"{int(lab.isna().sum())} row(s) belong to units without any {var!r} value")
        return lab.rename(f"{var}_tercile")
    raise ValueError(f"groups must be 'region4', 'belt3' or 'terciles:<variable>', got {groups!r}")


def by_groups(formula: str, data: pd.DataFrame, groups: str = "region4", vcov: Any = "iid", *,
              unit: str = "prov_code", **kwargs) -> Result:
    """:func:`compare_groups` over registry regions (``"region4"``, ``"belt3"``) or
    ``"terciles:var"`` (terciles of each province's mean of ``var``)."""
    lab = group_labels(data, groups, unit=unit)
    col = "_group"
    if col in data.columns:
        raise DesignError(f"column {col!r} is reserved for the group label")
    res = compare_groups(formula, data.assign(**{col: lab.to_numpy()}), col, vcov, **kwargs)
    spec = dict(res.spec)
    spec.update(by=lab.name, grouping=groups)
    return replace(res, spec=spec)

