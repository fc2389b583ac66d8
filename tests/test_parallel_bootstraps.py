"""Bootstraps on execution back ends (``backend=``): wild cluster bootstrap, Romano–Wolf and
mediation's pairs and wild bootstraps give bit-identical draws, p-values and intervals in
this process, in 2 local worker processes and on a 2-worker Dask LocalCluster; the chunked
draws equal the draws rebuilt by hand from ``SeedSequence(seed).spawn(n_chunks)`` (1e-12
relative: the same weights through the same per-draw algebra); ``backend=None`` keeps the
single-generator draws.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import fiproxy
from fiproxy.data import simulate_panel
from fiproxy.estimators import mediation as medmod
from fiproxy.estimators.inference.bootstrap_weights import bootstrap_draws, draw_weights
from fiproxy.estimators.inference.multiple_testing import romano_wolf, stepdown_maxt
from fiproxy.estimators.inference.wild_bootstrap import (
    BACKEND_CHUNK,
    bootstrap_pvalue,
    chunk_sizes,
    problem_from_result,
    wild_bootstrap,
)
from fiproxy.estimators.twfe import twfe
from fiproxy.parallel import DaskBackend, JoblibBackend, SerialBackend


@pytest.fixture(scope="module")
def backends():
    """Serial, 2 loky processes and a 2-process Dask LocalCluster (created once for the module)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield {"serial": SerialBackend(), "processes": JoblibBackend(2, "processes"), "dask": DaskBackend(client)}
    client.close()
    cluster.close()


def _panel(G: int = 40, T: int = 6, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"g": np.repeat(np.arange(G), T), "year": np.tile(np.arange(2010, 2010 + T), G)})
    n = len(df)
    df["x1"] = rng.normal(size=n) + 0.3 * rng.normal(size=G)[df.g]
    df["x2"] = rng.normal(size=n)
    for j, b in enumerate((0.15, 0.0, 0.4)):
        df[f"y{j}"] = b * df.x1 + 0.5 * df.x2 + rng.normal(size=G)[df.g] + rng.normal(size=n)
    return df


@pytest.fixture(scope="module")
def fits():
    df = _panel()
    return [twfe(f"y{j} ~ x1 + x2 | g + year", df, vcov={"CRV1": "g"}) for j in range(3)]


def _chunk_weights(kind: str, G: int, B: int, seed: int) -> np.ndarray:
    """The weight matrix of the chunked draws, rebuilt by hand."""
    sizes = chunk_sizes(B)
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    return np.vstack([draw_weights(kind, G, s, np.random.default_rng(c)) for s, c in zip(sizes, children)])


def test_wild_bootstrap_identical_on_every_backend(fits, backends):
    B = 2 * BACKEND_CHUNK + 377  # two full chunks and a short one
    kw = dict(B=B, seed=5, weights="webb", return_draws=True)
    outs = {name: wild_bootstrap(fits[0], "x1", backend=be, **kw) for name, be in backends.items()}
    ref = outs["serial"]
    for name, out in outs.items():
        assert np.array_equal(out.t_boot, ref.t_boot), name
        assert out.pvalue == ref.pvalue and out.conf_int == ref.conf_int, name
        assert out.B == B and not out.full_enumeration
    # the draws are those of the chunk seeds, and p-value / interval follow from them
    prob, _ = problem_from_result(fits[0], "x1")
    mom = prob.moments(_chunk_weights("webb", prob.G, B, 5))
    np.testing.assert_allclose(ref.t_boot, prob.t_boot(mom), rtol=1e-12, atol=1e-12)
    assert ref.pvalue == bootstrap_pvalue(ref.t_stat, ref.t_boot)
    np.testing.assert_allclose(ref.conf_int, prob.conf_int(mom, 0.95), rtol=1e-10)
    lo, hi = ref.conf_int
    assert lo < ref.estimate < hi
    # no chunk repeats another's draws
    assert not np.array_equal(ref.t_boot[:100], ref.t_boot[BACKEND_CHUNK:BACKEND_CHUNK + 100])


def test_wild_bootstrap_without_backend_keeps_single_generator_draws(fits):
    out = wild_bootstrap(fits[1], "x1", B=999, seed=8, return_draws=True)
    prob, _ = problem_from_result(fits[1], "x1")
    V, _ = bootstrap_draws("rademacher", prob.G, 999, 8)
    assert np.array_equal(out.t_boot, prob.t_boot(prob.moments(V)))
    chunked = wild_bootstrap(fits[1], "x1", B=999, seed=8, return_draws=True, backend="serial")
    assert not np.array_equal(out.t_boot, chunked.t_boot)  # the chunked scheme draws differently


def test_wild_bootstrap_full_enumeration_is_local_and_unchanged(backends):
    df = _panel(G=8, T=6, seed=4)
    r = twfe("y0 ~ x1 + x2 | g + year", df, vcov={"CRV1": "g"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = wild_bootstrap(r, "x1", B=999, seed=1, return_draws=True)
        on = wild_bootstrap(r, "x1", B=999, seed=1, return_draws=True, backend=backends["processes"])
    assert on.full_enumeration and base.full_enumeration and on.B == 2 ** 8
    assert np.array_equal(on.t_boot, base.t_boot)
    assert on.pvalue == base.pvalue and on.conf_int == base.conf_int


def test_wild_bootstrap_generator_seed_on_backend(fits):
    a = wild_bootstrap(fits[0], "x1", B=1500, seed=np.random.default_rng(2), backend="serial", return_draws=True)
    b = wild_bootstrap(fits[0], "x1", B=1500, seed=np.random.default_rng(2), backend="serial", return_draws=True)
    assert np.array_equal(a.t_boot, b.t_boot)
    with pytest.raises(ValueError, match="positive integer"):
        wild_bootstrap(fits[0], "x1", B=0, backend="serial")


def test_romano_wolf_identical_on_every_backend(fits, backends):
    B = BACKEND_CHUNK + 499
    outs = {name: romano_wolf(fits, "x1", B=B, seed=11, backend=be) for name, be in backends.items()}
    ref = outs["serial"]
    for name, out in outs.items():
        pd.testing.assert_frame_equal(out, ref, check_exact=True, obj=name)
        assert out.attrs["B"] == B and not out.attrs["full_enumeration"]
    # reference: the same joint weights (one matrix over the common clusters) rebuilt by hand
    probs = [problem_from_result(f, "x1")[0] for f in fits]
    V = _chunk_weights("rademacher", probs[0].G, B, 11)
    tb = np.column_stack([p.t_boot(p.moments(V)) for p in probs])
    t = np.array([p.t_stat() for p in probs])
    np.testing.assert_allclose(ref["p_rw"], stepdown_maxt(t, tb), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref["p_boot"], bootstrap_pvalue(t, tb.T), rtol=0, atol=1e-12)
    assert ref["p_rw"].iloc[2] < 0.05 < ref["p_rw"].iloc[1]  # the strong effect survives, the null does not
    base = romano_wolf(fits, "x1", B=B, seed=11)  # backend=None: one generator, other draws, similar p
    np.testing.assert_allclose(base["p_rw"], ref["p_rw"], atol=0.05)


@pytest.fixture(scope="module")
def panel():
    return simulate_panel(seed=11).data


def test_mediation_bootstraps_identical_on_every_backend(panel, backends):
    T, M, Y = "ln_dfi_index", "ln_dfi_digitization", "ln_loans_gdp"
    B = 2 * medmod.PAIRS_CHUNK + 17
    outs = {name: fiproxy.mediation(panel, T, M, Y, bootstrap="both", B=B, seed=4, backend=be)
            for name, be in backends.items()}
    ref = outs["serial"]
    for name, out in outs.items():
        for kind in ("pairs", "wild"):
            pd.testing.assert_frame_equal(out.extra["bootstrap"][kind], ref.extra["bootstrap"][kind],
                                          check_exact=True, obj=f"{name} {kind}")
            pd.testing.assert_frame_equal(out.extra["ci"][kind], ref.extra["ci"][kind], check_exact=True)
        assert out.stats["wild_path_pvalues"] == ref.stats["wild_path_pvalues"], name
    pairs = ref.extra["bootstrap"]["pairs"]
    assert len(pairs) == B - ref.stats["pairs_failed_draws"]
    # pairs draws: the resamples of the chunk seeds, refitted by hand
    sample = medmod._PairsSample(ref.extra["equations"], [M], T, "prov_code")
    sizes = chunk_sizes(B, medmod.PAIRS_CHUNK)
    raw = [d for s, c in zip(sizes, np.random.SeedSequence(4).spawn(len(sizes)))
           for d in medmod._pairs_chunk(sample, s, c)]
    raw = np.array([d for d in raw if d is not None])
    np.testing.assert_allclose(pairs[["a", "b", "direct", "total"]].to_numpy(), raw, rtol=1e-12, atol=1e-14)
    # wild draws are affine in the chunk weights: a* = â + V @ C exactly (least-squares fit of the
    # draws on [1, V] leaves no residual, 1e-10 of their spread; intercept = â, 1e-10 relative)
    fm = ref.extra["equations"][f"M:{M}"]
    G = problem_from_result(fm, T)[0].G
    V = _chunk_weights("webb", G, B, 4)
    a_star = ref.extra["bootstrap"]["wild"]["a"].to_numpy()
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(B), V]), a_star, rcond=None)
    resid = a_star - np.column_stack([np.ones(B), V]) @ coef
    assert np.max(np.abs(resid)) < 1e-10 * a_star.std()
    assert coef[0] == pytest.approx(fm.params[T], rel=1e-10)
    # the path p-value equals wild_bootstrap on the same back end and seed
    assert ref.stats["wild_path_pvalues"][f"a[{M}]"] == wild_bootstrap(
        fm, T, B=B, weights="webb", seed=4, cluster="prov_code", conf_int=False, backend="serial").pvalue
    # backend=None: old single-generator draws (as n_jobs threads)
    base = fiproxy.mediation(panel, T, M, Y, bootstrap="pairs", B=B, seed=4)
    old = medmod._PairsSample(base.extra["equations"], [M], T, "prov_code")
    idx = np.random.default_rng(4).integers(0, old.G, size=(B, old.G))
    raw0 = np.array([d for d in (old.draw(g) for g in idx) if d is not None])
    np.testing.assert_array_equal(base.extra["bootstrap"]["pairs"][["a", "b", "direct", "total"]].to_numpy(), raw0)
