"""Execution back ends: order, seeding and results independent of back end and worker count."""

from __future__ import annotations

import numpy as np
import pytest

from fiproxy.parallel import (Backend, DaskBackend, JoblibBackend, SerialBackend, backend_scope, get_backend,
                              spawn_seeds)


def _square_plus(shared, task):
    return task * task + shared


def _draws(shared, task, seed):
    rng = np.random.default_rng(seed)
    return task, rng.normal(size=shared)


def _blas_threads(shared, task):
    from threadpoolctl import threadpool_info

    return max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)


@pytest.fixture(scope="module")
def dask_cluster():
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster
    cluster.close()


def test_spawn_seeds_are_the_children_of_one_seed_sequence():
    a = spawn_seeds(7, 5)
    b = np.random.SeedSequence(7).spawn(5)
    assert [s.entropy for s in a] == [s.entropy for s in b]
    assert [s.spawn_key for s in a] == [s.spawn_key for s in b]
    with pytest.raises(ValueError, match=">= 0"):
        spawn_seeds(1, -1)


@pytest.mark.parametrize("name,n", [("serial", None), ("processes", 2), ("threads", 3), ("processes", 1)])
def test_map_preserves_order(name, n):
    with backend_scope(name, n) as be:
        assert be.map(_square_plus, range(23), shared=100) == [t * t + 100 for t in range(23)]
        assert be.map(_square_plus, [], shared=1) == []


def test_seeded_results_do_not_depend_on_backend_or_workers(dask_cluster):
    from distributed import Client

    ref = SerialBackend().map_seeded(_draws, range(17), seed=42, shared=4)
    outs = []
    for spec, n in [("processes", 2), ("processes", 3), ("threads", 2)]:
        with backend_scope(spec, n) as be:
            outs.append(be.map_seeded(_draws, range(17), seed=42, shared=4))
    with Client(dask_cluster) as client:
        outs.append(get_backend(client).map_seeded(_draws, range(17), seed=42, shared=4))
    for out in outs:
        assert [t for t, _ in out] == list(range(17))
        for (_, a), (_, b) in zip(ref, out):
            assert np.array_equal(a, b)
    # a different seed gives different draws
    other = SerialBackend().map_seeded(_draws, range(17), seed=43, shared=4)
    assert not np.array_equal(ref[0][1], other[0][1])


def test_dask_address_and_client_are_not_closed_by_scope(dask_cluster):
    from distributed import Client

    with backend_scope(dask_cluster.scheduler_address) as be:
        assert isinstance(be, DaskBackend) and be.n_workers == 2
        assert be.map(_square_plus, range(5), shared=1) == [1, 2, 5, 10, 17]
    with Client(dask_cluster) as client:
        with backend_scope(client) as be:
            assert be.map(_square_plus, [3], shared=0) == [9]
        assert client.status == "running"  # a client passed in stays open


def test_tasks_run_with_single_threaded_blas():
    assert SerialBackend().map(_blas_threads, [0]) == [1]
    with backend_scope("processes", 2) as be:
        assert set(be.map(_blas_threads, range(4))) == {1}


def test_get_backend_choices_and_errors():
    assert isinstance(get_backend(None), SerialBackend)
    assert isinstance(get_backend("loky", 2), JoblibBackend)
    be = SerialBackend()
    assert get_backend(be) is be
    assert get_backend("threads", 2).runner_jobs == 2
    assert SerialBackend().runner_jobs == 1
    with pytest.raises(ValueError, match="unknown backend 'mpi'"):
        get_backend("mpi")
    with pytest.raises(ValueError, match="n_workers must be a positive integer"):
        get_backend("processes", 0)
    with pytest.raises(TypeError, match="backend must be a name"):
        get_backend(3.5)
    assert issubclass(DaskBackend, Backend)


def test_threshold_bootstrap_on_backends_is_identical():
    """Hansen threshold bootstrap through ``backend=``: bit-identical across back ends, equal to
    the joblib ``n_jobs`` path up to rounding (1e-10; the draws are the same, only chunking differs)."""
    from fiproxy import threshold
    from fiproxy.data import simulate_panel

    df = simulate_panel(seed=3).data
    kw = dict(q="internet_penetration", regime="ln_dfi_index", bootstrap=120, seed=9)
    fml = "ln_loans_gdp ~ ln_gdp_pc | prov_code"
    base = threshold(fml, df, **kw).extra["bootstrap_F"]["single"]
    serial = threshold(fml, df, backend="serial", **kw).extra["bootstrap_F"]["single"]
    procs = threshold(fml, df, backend="processes", n_jobs=2, **kw).extra["bootstrap_F"]["single"]
    assert np.array_equal(serial, procs)
    np.testing.assert_allclose(serial, base, rtol=1e-10, atol=1e-10)
