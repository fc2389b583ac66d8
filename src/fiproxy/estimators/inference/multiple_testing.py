"""Multiple-testing adjustments over a family of hypotheses.

- :func:`holm`: Holm (1979), "A simple sequentially rejective multiple test
  procedure", Scandinavian Journal of Statistics 6: 65–70 (family-wise error rate).
- :func:`benjamini_hochberg`: Benjamini & Hochberg (1995), "Controlling the false
  discovery rate", JRSS B 57: 289–300 (false discovery rate).
- :func:`romano_wolf`: the bootstrap stepdown of Romano & Wolf (2005),
  "Stepwise multiple testing as formalized data snooping", Econometrica 73:
  1237–1282, with the adjusted p-values of Romano & Wolf (2016), "Efficient
  computation of adjusted p-values for resampling-based stepdown multiple
  testing", Statistics & Probability Letters 113: 38–40. The bootstrap is the
  wild cluster bootstrap of every model with the *same* cluster weights, so
  the max-|t| distribution reflects the dependence between the tests (Clarke,
  Romano & Wolf 2020, "The Romano–Wolf multiple-hypothesis correction in
  Stata", Stata Journal 20: 812–843).
  With an execution back end (``backend=``) the joint draws run in the fixed
  chunks of :func:`fiproxy.wild_bootstrap` (chunk seeds from
  ``SeedSequence(seed).spawn(n_chunks)``), identical on every back end.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from fiproxy.estimators.inference.bootstrap_weights import bootstrap_draws, draw_weights
from fiproxy.estimators.inference.wild_bootstrap import (
    BootstrapWarning,
    WildClusterProblem,
    _check_G,
    bootstrap_pvalue,
    chunk_sizes,
    map_chunks,
    problem_from_result,
    uses_enumeration,
)

__all__ = ["holm", "benjamini_hochberg", "romano_wolf", "stepdown_maxt"]


def _pvalues(p: Any) -> tuple[np.ndarray, Any]:
    arr = np.asarray(p, dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("no p-values given")
    if np.isnan(arr).any():
        raise ValueError(f"p-values contain NaN at positions {np.flatnonzero(np.isnan(arr))[:5].tolist()}")
    if (arr < 0).any() or (arr > 1).any():
        raise ValueError("p-values must lie in [0, 1]")
    return arr, p


def _wrap(adj: np.ndarray, like: Any) -> Any:
    if isinstance(like, pd.Series):
        return pd.Series(adj, index=like.index, name=like.name)
    return adj


def holm(pvalues: Any) -> Any:
    """Holm step-down adjusted p-values: max over j ≤ i of min(1, (m - j + 1)·p_(j)) in sorted order."""
    p, like = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="mergesort")
    adj_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adj = np.empty(m)
    adj[order] = adj_sorted
    return _wrap(adj, like)


def benjamini_hochberg(pvalues: Any) -> Any:
    """Benjamini–Hochberg step-up adjusted p-values: min over j ≥ i of min(1, m·p_(j)/j)."""
    p, like = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="mergesort")[::-1]  # largest first
    ranks = m - np.arange(m)
    adj_sorted = np.minimum(1.0, np.minimum.accumulate(m * p[order] / ranks))
    adj = np.empty(m)
    adj[order] = adj_sorted
    return _wrap(adj, like)


def stepdown_maxt(t: np.ndarray, t_boot: np.ndarray) -> np.ndarray:
    """Romano–Wolf stepdown adjusted p-values from statistics t (S,) and bootstrap draws (B, S).

    Hypotheses are taken in decreasing order of |t|; the j-th gets the share
    of draws whose max |t*| over the hypotheses not yet rejected (j, …, S) is
    at least |t_j|, made monotone by a running maximum (Romano & Wolf 2016, Alg. 4.1).
    """
    t = np.abs(np.asarray(t, dtype=float))
    tb = np.abs(np.asarray(t_boot, dtype=float))
    S = t.size
    if tb.ndim != 2 or tb.shape[1] != S:
        raise ValueError(f"t_boot must have shape (B, {S}), got {tb.shape}")
    order = np.argsort(-t, kind="mergesort")
    # max over the remaining set (j..S in |t| order): reverse cumulative max across columns
    tail_max = np.maximum.accumulate(tb[:, order][:, ::-1], axis=1)[:, ::-1]
    p_sorted = np.array([bootstrap_pvalue(t[order[j]], tail_max[:, j], "upper") for j in range(S)])
    p_sorted = np.maximum.accumulate(p_sorted)
    out = np.empty(S)
    out[order] = p_sorted
    return out


def _joint_t_boot(problems: Sequence[WildClusterProblem], cols: Sequence[np.ndarray], V: np.ndarray) -> np.ndarray:
    """Bootstrap t of every model (B, S) from one weight matrix V (B, G_union)."""
    tb = np.empty((V.shape[0], len(problems)))
    for s, (prob, c) in enumerate(zip(problems, cols)):
        tb[:, s] = prob.t_boot(prob.moments(V[:, c]))
    return tb


def _joint_chunk(shared: tuple, size: int, seed: np.random.SeedSequence) -> np.ndarray:
    """Worker task: joint bootstrap t of one chunk of ``size`` draws seeded by ``seed``."""
    problems, cols, weights, G = shared
    return _joint_t_boot(problems, cols, draw_weights(weights, G, size, np.random.default_rng(seed)))


def romano_wolf(
    results_or_designs: Sequence[Any],
    params: str | Sequence[Any],
    B: int = 9999,
    seed: int | np.random.Generator | None = None,
    *,
    weights: str = "rademacher",
    impose_null: bool = True,
    cluster: Any = None,
    bootcluster: str | None = None,
    full_enumeration: bool | str = "auto",
    null: float | Sequence[float] = 0.0,
    backend: Any = None,
) -> pd.DataFrame:
    """Romano–Wolf stepdown adjusted p-values for ``param_s = null_s`` in S models.

    Parameters
    ----------
    results_or_designs : sequence
        Fitted linear models (a ``Result`` with ``extra["design"]``), or
        ``(WildClusterProblem, bootstrap_cluster_labels)`` pairs built on arrays.
    params : str or sequence
        One coefficient name for all models, or one per model (name or
        ``{name: weight}`` combination); ignored for prepared problems.
    B, seed, weights, impose_null, cluster, bootcluster, full_enumeration
        As in :func:`fiproxy.wild_bootstrap`. All models share one weight
        matrix over the union of their bootstrap-cluster labels, so a
        province gets the same weight in every model of a draw.
    null : float or sequence
        Null value(s) of the hypotheses.
    backend : optional
        Execution back end for the random joint draws, as in :func:`fiproxy.wild_bootstrap`
        (chunks of ``BACKEND_CHUNK`` draws; identical on every back end and worker count, other
        draws than the default ``None``). A full enumeration runs locally.

    Returns
    -------
    DataFrame with one row per hypothesis: estimate, t, the single-test
    bootstrap p-value and the Romano–Wolf adjusted p-value ``p_rw``.
    """
    items = list(results_or_designs)
    S = len(items)
    if S == 0:
        raise ValueError("no models given")
    plist = [params] * S if isinstance(params, (str, dict)) else list(params)
    if len(plist) != S:
        raise ValueError(f"{len(plist)} params for {S} models")
    nulls = [float(null)] * S if np.isscalar(null) else [float(v) for v in null]
    if len(nulls) != S:
        raise ValueError(f"{len(nulls)} null values for {S} models")
    problems: list[WildClusterProblem] = []
    labels: list[np.ndarray] = []
    names: list[str] = []
    for s, item in enumerate(items):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], WildClusterProblem):
            prob, lab = item
            names.append(f"hypothesis {s + 1}")
        else:
            prob, info = problem_from_result(item, plist[s], nulls[s], cluster=cluster, bootcluster=bootcluster,
                                             impose_null=impose_null)
            lab = info["boot_labels"]
            names.append(info["param"])
        if len(lab) != prob.G:
            raise ValueError(f"model {s + 1}: {len(lab)} bootstrap-cluster labels for {prob.G} clusters")
        problems.append(prob)
        labels.append(np.asarray(lab))
    union = pd.Index(np.concatenate(labels)).unique().sort_values()
    for msg in _check_G(len(union), weights):
        warnings.warn(msg, BootstrapWarning, stacklevel=2)
    cols = [union.get_indexer(lab) for lab in labels]
    if backend is None or uses_enumeration(weights, len(union), B, full_enumeration):
        V, enum = bootstrap_draws(weights, len(union), B, seed, full_enumeration)
        tb = _joint_t_boot(problems, cols, V)
    else:
        parts = map_chunks(backend, _joint_chunk, chunk_sizes(int(B)), seed, (problems, cols, weights, len(union)))
        tb, enum = np.concatenate(parts, axis=0), False
    t = np.array([prob.t_stat() for prob in problems], dtype=float)
    p_single = bootstrap_pvalue(t, tb.T, "symmetric")
    out = pd.DataFrame(
        {
            "model": np.arange(1, S + 1),
            "param": names,
            "estimate": [p.estimate for p in problems],
            "null": nulls,
            "t": t,
            "p_boot": p_single,
            "p_rw": stepdown_maxt(t, tb),
        }
    )
    out.attrs.update({"B": int(tb.shape[0]), "full_enumeration": enum, "weights": weights,
                      "impose_null": impose_null})
    return out.set_index("model")
