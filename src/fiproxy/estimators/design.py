"""Model matrices for linear models with absorbed fixed effects.

:func:`build_model_frame` turns a parsed formula and a DataFrame into raw
arrays (outcome, regressors, fixed-effect codes, weights) for the estimation
sample: lags/leads within the panel unit, dummies for ``C()``/``i()``,
listwise deletion of rows with missing values, iterative removal of singleton
observations (Correia 2015, "Singletons, cluster-robust standard errors and
fixed effects: a bad mix", working paper; fixest's ``fixef.rm = "singleton"``).

:func:`absorb` removes the fixed effects (:func:`fiproxy.estimators.demean.demean`)
and drops regressors that are collinear with the fixed effects or with earlier
regressors, reporting them by name. The result, :class:`LinearDesign`, is what
estimators and inference (covariances, wild bootstrap) build on.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fiproxy.estimators.demean import demean, factorize_fe
from fiproxy.estimators.formula import Factor, ParsedFormula, Term

__all__ = ["ModelFrame", "LinearDesign", "build_model_frame", "absorb", "DesignError",
           "check_columns", "COLLINEAR_TOL"]

# relative tolerance of the pivoted Cholesky collinearity check (fixest's collin.tol)
COLLINEAR_TOL = 1e-10


class DesignError(ValueError):
    """The data cannot form the requested design (missing column, wrong type, singular design …)."""


@dataclass
class ModelFrame:
    """Raw (not yet demeaned) arrays of the estimation sample."""

    y: np.ndarray
    X: np.ndarray
    coefnames: list[str]
    depvar: str
    weights: np.ndarray | None
    fe_codes: np.ndarray
    fe_names: list[str]
    frame: pd.DataFrame
    n_missing: int = 0
    singletons: dict = field(default_factory=dict)
    n_singletons: int = 0
    term_index: list = field(default_factory=list)  # position in ``terms`` of each column (-1: intercept)


@dataclass
class LinearDesign:
    """A linear model after absorbing fixed effects.

    ``X``/``y`` are the within-transformed regressors and outcome (unweighted);
    ``X_raw``/``y_raw`` the same before absorption; ``frame`` the estimation-sample
    rows of the input data (index = original row labels); ``fe_codes`` (n, m)
    integer codes; ``df_fe`` the absorbed fixed-effect degrees of freedom,
    sum of levels minus (m - 1) (fixest convention); ``resid``/``fitted`` are set
    by the estimator.
    """

    X: np.ndarray
    y: np.ndarray
    X_raw: np.ndarray
    y_raw: np.ndarray
    weights: np.ndarray | None
    coefnames: list[str]
    depvar: str
    frame: pd.DataFrame
    fe_codes: np.ndarray
    fe_names: list[str]
    df_fe: int
    intercept: bool
    collinear: list[str] = field(default_factory=list)
    demean_iterations: int = 0
    resid: np.ndarray | None = None
    fitted: np.ndarray | None = None

    @property
    def nobs(self) -> int:
        return len(self.y)

    @property
    def k(self) -> int:
        return self.X.shape[1]


def check_columns(data: pd.DataFrame, names) -> None:
    """Raise a DesignError listing every missing column with close matches."""
    cols = [str(c) for c in data.columns]
    missing = [c for c in dict.fromkeys(names) if c not in data.columns]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(str(c), cols, n=3, cutoff=0.6)
            hints.append(f"{c!r}" + (f" (did you mean {', '.join(map(repr, close))}?)" if close else ""))
        raise DesignError(f"column(s) not in the data: {'; '.join(hints)}")


def _numeric(data: pd.DataFrame, name: str, role: str) -> np.ndarray:
    s = data[name]
    if s.dtype == bool or pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=float, na_value=np.nan)
    if not pd.api.types.is_numeric_dtype(s):
        raise DesignError(
            f"{role} {name!r} is not numeric (dtype {s.dtype}); "
            "use C(name) or i(name) for a categorical regressor, or convert it"
        )
    return s.to_numpy(dtype=float, na_value=np.nan)


def _shift(data: pd.DataFrame, name: str, k: int, panel_id: tuple[str, str] | None) -> np.ndarray:
    """Value of ``name`` at time t - k (k > 0 lag, k < 0 lead) of the same unit; NaN when absent."""
    if panel_id is None:
        raise DesignError(
            "lags/leads need panel_id=(unit, time); the data have no 'prov_code'/'year' columns"
        )
    unit, time = panel_id
    check_columns(data, [unit, time])
    x = _numeric(data, name, "lagged variable")
    t = data[time].to_numpy()
    if not np.issubdtype(t.dtype, np.number) or np.isnan(t.astype(float)).any() or (t != np.round(t)).any():
        raise DesignError(f"time variable {time!r} must hold integers without missing values for lags")
    t = t.astype(np.int64)
    u = factorize_fe(data[unit])[:, 0]
    span = int(t.max() - t.min()) + abs(k) + 1
    key = u * span + (t - t.min())
    index = pd.Index(key)
    if not index.is_unique:
        dup = data.index[index.duplicated(keep=False)][:5].tolist()
        raise DesignError(f"panel_id ({unit}, {time}) does not identify rows uniquely (rows {dup} …)")
    pos = index.get_indexer(key - k)
    out = np.full(len(x), np.nan)
    ok = (pos >= 0) & (t - k >= t.min())
    out[ok] = x[pos[ok]]
    return out


def _factor_source(data, f: Factor, panel_id) -> np.ndarray:
    """Numeric values (numeric factors) or integer codes with -1 for missing (categorical)."""
    if f.categorical:
        codes, _ = pd.factorize(data[f.var], sort=True)
        return codes
    if f.kind == "var":
        return _numeric(data, f.var, "regressor")
    if f.kind == "log":
        v = _numeric(data, f.var, "regressor")
        bad = np.flatnonzero(v <= 0)
        if bad.size:
            raise DesignError(f"log({f.var}): {bad.size} row(s) are <= 0 (rows {data.index[bad[:5]].tolist()} …)")
        return np.log(v)
    return _shift(data, f.var, f.k if f.kind == "lag" else -f.k, panel_id)


def _factor_block(data: pd.DataFrame, f: Factor, src: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Columns and names a factor contributes on the estimation sample."""
    if not f.categorical:
        return src[:, None], [f.label]
    levels = pd.Index(pd.unique(data[f.var])).sort_values()
    codes = levels.get_indexer(data[f.var])
    keep = list(range(len(levels)))
    if f.kind == "C":
        keep = keep[1:]
    elif f.ref is not None:
        ref = [j for j, lv in enumerate(levels) if str(lv) == f.ref]
        if not ref:
            raise DesignError(f"i({f.var}, ref={f.ref}): level {f.ref!r} not in the data")
        keep.remove(ref[0])
    block = (codes[:, None] == np.asarray(keep)[None, :]).astype(float)
    if f.kind == "C":
        names = [f"C({f.var})[T.{levels[j]}]" for j in keep]
    else:
        names = [f"{f.var}::{levels[j]}" for j in keep]
    if f.by is not None:
        block = block * _numeric(data, f.by, "i() interaction variable")[:, None]
        names = [f"{nm}:{f.by}" for nm in names]
    return block, names


def _term_block(data, term: Term, sources) -> tuple[np.ndarray, list[str]]:
    block, names = _factor_block(data, term.factors[0], sources[term.factors[0]])
    for f in term.factors[1:]:
        b2, n2 = _factor_block(data, f, sources[f])
        block = (block[:, :, None] * b2[:, None, :]).reshape(len(block), -1)
        names = [f"{a}:{b}" for a in names for b in n2]
    return block, names


def _fe_codes(sub: pd.DataFrame, fe: tuple[tuple[str, ...], ...]) -> tuple[np.ndarray, list]:
    """Codes (n, m) of the fixed effects (``a^b`` combined) and each one's level labels."""
    codes = np.empty((len(sub), len(fe)), dtype=np.int64)
    levels = []
    for j, names in enumerate(fe):
        parts = [pd.factorize(sub[c].to_numpy(), sort=True) for c in names]
        if len(parts) == 1:
            codes[:, j], lv = parts[0][0], list(parts[0][1])
        else:
            key = np.zeros(len(sub), dtype=np.int64)
            for c, u in parts:
                key = key * len(u) + c
            uniq, codes[:, j] = np.unique(key, return_inverse=True)
            lv = []
            for k in uniq:
                label = []
                for c, u in reversed(parts):
                    k, r = divmod(int(k), len(u))
                    label.append(u[r])
                lv.append(tuple(reversed(label)))
        levels.append(lv)
    return codes, levels


def _drop_singletons(fe: np.ndarray) -> np.ndarray:
    """Boolean mask of observations kept after iteratively removing singletons."""
    keep = np.ones(len(fe), dtype=bool)
    while True:
        changed = False
        for j in range(fe.shape[1]):
            counts = np.bincount(fe[keep, j], minlength=int(fe[:, j].max()) + 1)
            single = keep & (counts[fe[:, j]] == 1)
            if single.any():
                keep &= ~single
                changed = True
        if not changed:
            return keep


def _plain(level):
    """A fixed-effect level as a plain Python value (99, not np.int64(99)) for messages."""
    return level.item() if isinstance(level, np.generic) else level


def _reject_infinite(data: pd.DataFrame, columns) -> None:
    """Raise a DesignError naming the first variable with ±inf values and its rows (inf is never "missing")."""
    for name, values in columns:
        bad = np.flatnonzero(np.isinf(np.asarray(values, dtype=float)))
        if bad.size:
            raise DesignError(f"{name!r} has {bad.size} infinite value(s) (rows {data.index[bad[:5]].tolist()}"
                              f"{' …' if bad.size > 5 else ''}), e.g. from the log of zero or a division by zero; "
                              "fix or drop those rows before fitting")


def build_model_frame(
    parsed: ParsedFormula,
    data: pd.DataFrame,
    *,
    terms: tuple[Term, ...] | None = None,
    panel_id: tuple[str, str] | None = None,
    weights: str | np.ndarray | pd.Series | None = None,
    drop_singletons: bool = True,
    extra_columns: tuple[str, ...] = (),
) -> ModelFrame:
    """Raw arrays of the estimation sample for ``parsed`` on ``data``.

    ``terms`` overrides the regressor terms (IV estimators pass exogenous and
    endogenous terms); ``extra_columns`` are columns whose missing values also
    remove rows (instruments read elsewhere). Rows with a missing outcome,
    regressor, fixed effect or weight are removed listwise and counted in
    ``n_missing``.
    """
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    terms = parsed.terms if terms is None else terms
    need = list(parsed.columns) + list(extra_columns)
    if isinstance(weights, str):
        need.append(weights)
    check_columns(data, need)
    n_all = len(data)
    if n_all == 0:
        raise DesignError("the data have no rows")
    factors = list(dict.fromkeys(f for t in terms for f in t.factors))
    sources = {f: _factor_source(data, f, panel_id) for f in factors}
    y_all = _factor_source(data, parsed.depvar, panel_id)
    ok = np.isfinite(y_all)
    for f, src in sources.items():
        ok &= (src >= 0) if f.categorical else np.isfinite(src)
        if f.by is not None:
            ok &= np.isfinite(_numeric(data, f.by, "i() interaction variable"))
    for c in extra_columns:
        ok &= data[c].notna().to_numpy()
    fe_cols = [c for names in parsed.fe for c in names]
    for c in fe_cols:
        ok &= data[c].notna().to_numpy()
    w_all = None
    if weights is not None:
        w_all = (_numeric(data, weights, "weight") if isinstance(weights, str)
                 else np.asarray(weights, dtype=float).reshape(-1))
        if len(w_all) != n_all:
            raise DesignError(f"weights have length {len(w_all)}, data have {n_all} rows")
        neg = np.flatnonzero(w_all <= 0)
        if neg.size:
            raise DesignError(f"weights must be positive; {neg.size} row(s) are <= 0 (rows {data.index[neg[:5]].tolist()} …)")
        ok &= np.isfinite(w_all)
    _reject_infinite(data, [(parsed.depvar.label, y_all)]
                     + [(f.label, src) for f, src in sources.items() if not f.categorical]
                     + [(c, data[c].to_numpy()) for c in fe_cols if pd.api.types.is_numeric_dtype(data[c])]
                     + ([("weights" if not isinstance(weights, str) else weights, w_all)] if w_all is not None else []))
    n_missing = int(n_all - ok.sum())
    if not ok.any():
        raise DesignError("no complete rows: every row has a missing outcome, regressor, fixed effect or weight")
    # fixed-effect codes of the complete rows; singletons removed iteratively
    sub = data if ok.all() else data.iloc[np.flatnonzero(ok)]
    fe_codes, fe_levels = _fe_codes(sub, parsed.fe)
    singletons: dict = {}
    n_single = 0
    if drop_singletons and parsed.fe:
        keep = _drop_singletons(fe_codes)
        n_single = int((~keep).sum())
        if n_single:
            for j, name in enumerate(parsed.fe_names):
                lost = np.setdiff1d(np.unique(fe_codes[~keep, j]), np.unique(fe_codes[keep, j]))
                if lost.size:
                    singletons[name] = [_plain(fe_levels[j][c]) for c in lost[:20]]
            pos = np.flatnonzero(ok)[keep]
            ok = np.zeros(n_all, dtype=bool)
            ok[pos] = True
            sub = data.iloc[pos]
            fe_codes = factorize_fe(fe_codes[keep])
    frame = sub if sub is not data else data.copy(deep=False)
    idx = np.flatnonzero(ok)
    all_rows = len(idx) == n_all
    blocks, names = [], []
    if parsed.intercept:
        blocks.append(np.ones((len(idx), 1)))
        names.append("Intercept")
    term_index = [-1] * len(names)
    sub_sources = {f: (s if all_rows else s[idx]) for f, s in sources.items()}
    for pos_t, t in enumerate(terms):
        b, nm = _term_block(frame, t, sub_sources)
        term_index.extend([pos_t] * len(nm))
        blocks.append(b)
        names.extend(nm)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DesignError(f"regressor(s) {dup} appear more than once in the formula")
    X = np.column_stack(blocks) if blocks else np.empty((len(idx), 0))
    y = y_all if all_rows else y_all[idx]
    w = None if w_all is None else (w_all if all_rows else w_all[idx])
    return ModelFrame(y=y, X=X, coefnames=names, depvar=parsed.depvar.label, weights=w,
                      fe_codes=fe_codes, fe_names=parsed.fe_names, frame=frame,
                      n_missing=n_missing, singletons=singletons, n_singletons=n_single,
                      term_index=term_index)


def collinear_columns(X: np.ndarray, weights: np.ndarray | None, reference_ss: np.ndarray,
                      tol: float = COLLINEAR_TOL) -> np.ndarray:
    """Boolean mask of columns to drop: (near) zero after absorption, or a linear
    combination of earlier columns (sequential pivoted Cholesky on X'WX)."""
    Xw = X if weights is None else X * np.sqrt(weights)[:, None]
    G = Xw.T @ Xw
    k = G.shape[0]
    diag = np.diag(G).copy()
    drop = diag <= tol * np.maximum(reference_ss, np.finfo(float).tiny)
    L = np.zeros((k, k))
    for j in range(k):
        if drop[j]:
            continue
        kept = np.flatnonzero(~drop[:j])
        v = G[j, kept] if kept.size else np.empty(0)
        # forward solve for this row of L against earlier kept columns
        lj = np.zeros(kept.size)
        for a, p in enumerate(kept):
            lj[a] = (v[a] - L[p, kept[:a]] @ lj[:a]) / L[p, p]
        r = diag[j] - lj @ lj
        if r <= tol * diag[j]:
            drop[j] = True
            continue
        L[j, kept] = lj
        L[j, j] = np.sqrt(r)
    return drop


def absorb(mf: ModelFrame, *, tol: float = 1e-10, maxiter: int = 100_000,
           collinear: str = "drop") -> LinearDesign:
    """Demean outcome and regressors by the fixed effects; drop collinear regressors.

    ``collinear="drop"`` removes them and lists their names in
    ``LinearDesign.collinear``; ``"raise"`` raises a :class:`DesignError`.
    """
    if collinear not in ("drop", "raise"):
        raise ValueError(f"collinear must be 'drop' or 'raise', got {collinear!r}")
    m = mf.fe_codes.shape[1]
    if m:
        both, it = demean(np.column_stack([mf.y, mf.X]), mf.fe_codes, mf.weights, tol=tol, maxiter=maxiter)
        y, X = both[:, 0], both[:, 1:]
        df_fe = int(sum(int(mf.fe_codes[:, j].max()) + 1 for j in range(m)) - (m - 1))
    else:
        y, X, it, df_fe = mf.y, mf.X, 0, 0
    ref = (mf.X ** 2 if mf.weights is None else mf.X ** 2 * mf.weights[:, None]).sum(axis=0)
    drop = collinear_columns(X, mf.weights, ref)
    names = list(mf.coefnames)
    dropped = [n for n, d in zip(names, drop) if d]
    if dropped and (collinear == "raise" or drop.all()):
        why = "collinear with the fixed effects or with other regressors"
        raise DesignError(
            f"perfectly collinear design: {dropped} {'are' if len(dropped) > 1 else 'is'} {why}"
            + ("; no regressor is left" if drop.all() else "")
        )
    if X.shape[1] == 0:
        raise DesignError("the formula has no regressors to estimate")
    if dropped:
        X, names = X[:, ~drop], [n for n, d in zip(names, drop) if not d]
        X_raw = mf.X[:, ~drop]
    else:
        X_raw = mf.X
    return LinearDesign(X=np.ascontiguousarray(X), y=y, X_raw=X_raw, y_raw=mf.y, weights=mf.weights,
                        coefnames=names, depvar=mf.depvar, frame=mf.frame, fe_codes=mf.fe_codes,
                        fe_names=mf.fe_names, df_fe=df_fe, intercept="Intercept" in names,
                        collinear=dropped, demean_iterations=it)
