"""Joint inference for a specification curve under the null (Simonsohn, Simmons & Nelson 2020).

Simonsohn, U., Simmons, J. P. & Nelson, L. D. (2020), "Specification curve
analysis", Nature Human Behaviour 4: 1208-1214, Section "Inference": the null
of no effect is imposed in every specification by subtracting its estimated
effect from its outcome, ``y*_s = y_s - b_s x_s``; bootstrap samples are drawn
from these data and *all* specifications are re-estimated on each, which gives
the distribution under the null of three curve-level statistics:

1. the median estimate across specifications;
2. the share of specifications with a significant estimate (p < 1 - level) in
   the dominant direction (the sign of the observed median);
3. Stouffer's Z, ``sum_s z_s / sqrt(S)`` with ``z_s = sign(b_s) Phi^-1(1 - p_s/2)``.

Each p-value is the share of draws whose statistic is at least as extreme, in
the dominant direction, as the observed one. Panel data are resampled by
whole clusters (``boot_cluster``, default the panel unit): a cluster drawn twice
enters as two units, i.e. fixed effects and cluster variables nested in the
resampled clusters get new levels per draw slot, others (years) keep theirs.
Every draw has its own child of ``SeedSequence(seed)``, so the test does not
depend on the execution back end or the number of workers. Singletons are
removed on the original sample only (bootstrap samples keep all rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as st

from fiproxy.estimators.demean import demean
from fiproxy.estimators.inference.vcov import cluster_codes, compute_vcov
from fiproxy.estimators.spec_curve import _FIT_ERRORS, Fit, GroupData, GroupTask, fit_spec, group_sets
from fiproxy.estimators.twfe import linear_vcov_inputs

__all__ = ["joint_test", "curve_statistics"]

STATISTICS = ("median estimate", "share significant (dominant sign)", "Stouffer Z")


def curve_statistics(estimate: np.ndarray, p: np.ndarray, alpha: float, direction: float) -> np.ndarray:
    """(median estimate, share significant in ``direction``, Stouffer Z) of one curve."""
    ok = np.isfinite(estimate) & np.isfinite(p)
    b, pv = estimate[ok], p[ok]
    if not b.size:
        return np.full(3, np.nan)
    z = np.sign(b) * st.norm.isf(np.clip(pv, 1e-300, 1.0) / 2)
    return np.array([np.median(b), np.mean((pv < alpha) & (np.sign(b) == direction)), z.sum() / np.sqrt(z.size)])


@dataclass
class _Part:
    """One estimation sample of the joint test: data, its fits and what resampling needs."""

    g: GroupData
    fits: list[Fit]
    kept: list[list[str]]
    effects: np.ndarray
    vcovs: list[Any]
    time: str | None
    order: np.ndarray  # rows sorted by bootstrap cluster
    starts: np.ndarray  # first position in ``order`` per bootstrap cluster (all clusters of the data)
    counts: np.ndarray
    nested_fe: list[bool]
    clusters: dict  # name -> (codes, nested in bootstrap cluster)


def _nested(codes: np.ndarray, boot: np.ndarray) -> bool:
    """Is every level of ``codes`` inside a single bootstrap cluster?"""
    pairs = np.unique(codes.astype(np.int64) * (int(boot.max()) + 1) + boot)
    return len(pairs) == len(np.unique(codes))


def _parts(data: pd.DataFrame, tasks: list[GroupTask], infos: list, boot_index: pd.Index,
           boot_col: str) -> list[_Part]:
    parts = []
    for task, info in zip(tasks, infos):
        sub = data if task.rows is None else data.iloc[task.rows]
        for members, g in group_sets(sub, task):
            ok = [i for i in members if info[i] is not None]
            if isinstance(g, Exception) or not ok:
                continue
            boot = boot_index.get_indexer(g.frame[boot_col])
            order = np.argsort(boot, kind="stable")
            counts = np.bincount(boot, minlength=len(boot_index))
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            names = {c for v in task.vcovs for c in _cluster_names(v)}
            clusters = {}
            for c in sorted(names):
                codes, _ = cluster_codes(g.frame, c)
                clusters[c] = (codes, _nested(codes, boot))
            parts.append(_Part(
                g=g, fits=[task.fits[i] for i in ok], kept=[info[i]["kept"] for i in ok],
                effects=np.array([info[i]["estimate"] for i in ok]), vcovs=task.vcovs,
                time=task.panel_id[1] if task.panel_id else None, order=order, starts=starts, counts=counts,
                nested_fe=[_nested(g.fe_codes[:, j], boot) for j in range(g.fe_codes.shape[1])],
                clusters=clusters))
    return parts


def _cluster_names(v: Any) -> tuple[str, ...]:
    from fiproxy.estimators.inference.vcov import parse_vcov

    return parse_vcov(v).clusters


def _dense(codes: np.ndarray) -> tuple[np.ndarray, int]:
    u, inv = np.unique(codes, return_inverse=True)
    return inv.reshape(-1).astype(np.int64), len(u)


def _resample(part: _Part, pick: np.ndarray) -> tuple[GroupData, dict]:
    """The part's data on the bootstrap sample made of clusters ``pick`` (one slot each)."""
    cnt = part.counts[pick]
    total = int(cnt.sum())
    slot = np.repeat(np.arange(len(pick)), cnt)
    within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    rows = part.order[np.repeat(part.starts[pick], cnt) + within]
    g = part.g
    fe = np.empty((total, g.fe_codes.shape[1]), dtype=np.int64)
    for j, nested in enumerate(part.nested_fe):
        c = g.fe_codes[rows, j]
        fe[:, j] = _dense(slot * (int(g.fe_codes[:, j].max()) + 1) + c if nested else c)[0]
    raw = {k: v[rows] for k, v in g.raw.items()}
    w = None if g.weights is None else g.weights[rows]
    cols = np.column_stack(list(raw.values()))
    if fe.shape[1]:
        tilde_m, _ = demean(cols, fe, w)
        df_fe = int(sum(int(fe[:, j].max()) + 1 for j in range(fe.shape[1])) - (fe.shape[1] - 1))
    else:
        tilde_m, df_fe = cols, 0
    tilde = {k: tilde_m[:, j] for j, k in enumerate(raw)}
    frame = pd.DataFrame({part.time: g.frame[part.time].to_numpy()[rows]}) if part.time in g.frame else \
        pd.DataFrame(index=pd.RangeIndex(total))
    cache = {}
    for c, (codes, nested) in part.clusters.items():
        cache[c] = _dense(slot * (int(codes.max()) + 1) + codes[rows] if nested else codes[rows])
    return GroupData(raw=raw, tilde=tilde, weights=w, fe_codes=fe, fe_names=g.fe_names, df_fe=df_fe,
                     frame=frame, intercept=g.intercept), cache


def _draw(ctx: tuple, b: int, seed: np.random.SeedSequence) -> tuple[np.ndarray, int]:
    """Curve statistics of one bootstrap draw; also the number of fits that failed in it."""
    parts, n_boot, alpha, direction = ctx
    pick = np.random.default_rng(seed).integers(0, n_boot, n_boot)
    est, tdf, failed = [], [], 0
    for part in parts:
        g, cache = _resample(part, pick)
        for fit, kept, eff in zip(part.fits, part.kept, part.effects):
            key = f"__null_{fit.index}"
            g.raw[key] = g.raw[fit.outcome] - eff * g.raw[fit.treatment]
            g.tilde[key] = g.tilde[fit.outcome] - eff * g.tilde[fit.treatment]
            null_fit = Fit(fit.index, key, fit.treatment, fit.controls)
            try:
                d, beta, bread, names = fit_spec(g, null_fit, kept=kept)
                inputs = linear_vcov_inputs(d, beta, bread, part.time)
                inputs._cluster_cache = cache
                j = names.index(fit.treatment)
                for v in part.vcovs:
                    out = compute_vcov(v, inputs)
                    est.append(beta[j])
                    tdf.append((beta[j] / np.sqrt(out.V[j, j]), out.df_t))
            except _FIT_ERRORS:
                failed += 1
                est.extend([np.nan] * len(part.vcovs))
                tdf.extend([(np.nan, np.nan)] * len(part.vcovs))
    t, df_t = np.array(tdf).T
    return curve_statistics(np.asarray(est), 2 * st.t.sf(np.abs(t), df_t), alpha, direction), failed


def _draw_task(ctx, b, seed):
    return _draw(ctx, b, seed)


def joint_test(data: pd.DataFrame, tasks: list[GroupTask], infos: list, specs: pd.DataFrame, *, B: int,
               seed: int | None, boot_cluster: str | None, backend, level: float) -> tuple[pd.DataFrame, str]:
    """The three curve statistics, their null distributions over ``B`` draws and p-values.

    Called by :func:`fiproxy.estimators.spec_curve.spec_curve` (``B > 0``) with its
    group tasks, per-fit infos (kept regressors, estimate) and specification table.
    """
    pid = tasks[0].panel_id
    boot_col = boot_cluster or (pid[0] if pid else None)
    if boot_col is None:
        raise ValueError("the joint test resamples clusters: pass boot_cluster=<column> (no panel_id found)")
    if boot_col not in data.columns:
        from fiproxy.estimators.design import check_columns
        check_columns(data, [boot_col])
    if data[boot_col].isna().any():
        raise ValueError(f"boot_cluster {boot_col!r} has missing values")
    boot_index = pd.Index(pd.unique(data[boot_col])).sort_values()
    if len(boot_index) < 2:
        raise ValueError(f"boot_cluster {boot_col!r} has a single cluster; the joint test needs at least 2")
    ok = specs[specs["error"].isna()]
    alpha = 1 - level
    est, p = ok["estimate"].to_numpy(float), ok["p"].to_numpy(float)
    direction = 1.0 if np.median(est) >= 0 else -1.0
    observed = curve_statistics(est, p, alpha, direction)
    parts = _parts(data, tasks, infos, boot_index, boot_col)
    ctx = (parts, len(boot_index), alpha, direction)
    out = backend.map_seeded(_draw_task, range(B), seed, shared=ctx)
    draws = np.array([o[0] for o in out])
    failed = np.array([o[1] for o in out])
    sgn = np.array([direction, 1.0, direction])
    extreme = (draws * sgn >= observed * sgn)
    table = pd.DataFrame({
        "observed": observed,
        "null_mean": np.nanmean(draws, axis=0),
        "null_q95": np.nanquantile(draws * sgn, 0.95, axis=0) * sgn,
        "p_value": extreme.mean(axis=0),
        "B": B,
        "draws_with_failed_fits": int((failed > 0).sum()),
    }, index=pd.Index(STATISTICS, name="statistic"))
    table.attrs.update(direction=direction, draws=draws)
    return table, boot_col
