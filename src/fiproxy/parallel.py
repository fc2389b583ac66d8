"""Execution back ends: one option for serial, local-process and Dask execution.

Everything in fiproxy that repeats an independent computation many times (the
specification curve, bootstrap draws, Monte Carlo replications) goes through
:func:`get_backend` and :meth:`Backend.map`:

=====================================  ==============================================================
``"serial"`` or ``None``               in this process, one task after the other
``"processes"`` (alias ``"loky"``)     local worker processes (joblib's loky pool)
``"threads"``                          local threads (joblib); useful when tasks release the GIL
                                       (numba kernels, large BLAS calls)
``"dask"``                             a new Dask ``distributed.LocalCluster`` with ``n_workers``
                                       single-threaded worker processes (closed with the back end)
a ``distributed.Client``               that client's cluster (not closed by fiproxy)
an address ``"tcp://host:8786"``       connects a ``Client`` to a running scheduler
=====================================  ==============================================================

Results never depend on the back end or the number of workers:

* ``map`` returns results in task order;
* random work gets one child of ``numpy.random.SeedSequence(seed).spawn(n)``
  per task (:func:`spawn_seeds`, :meth:`Backend.map_seeded`), fixed before any
  task is dispatched, so a task's random stream is the same wherever it runs;
* every task runs with BLAS limited to one thread (``threadpoolctl``), in every
  back end, so floating-point reductions are carried out in the same order
  in the main process and in workers (multi-threaded BLAS may sum in a
  different order and change the last bits).

Tasks are sent in contiguous batches (a few per worker) together with one
``shared`` object (e.g. the data), which is serialised once per batch for
local processes and scattered once (broadcast) for Dask.

The notebook runner (:func:`fiproxy.pipeline.runner.run_notebooks`) executes
notebooks in kernels, which are processes already; its ``jobs`` argument is
the number of kernels run at a time. :attr:`Backend.runner_jobs` gives the
value matching a back end (1 for serial, ``n_workers`` for local back ends);
a Dask back end does not move kernels to the cluster: notebooks still run
locally with ``runner_jobs`` kernels, and the bootstraps inside them may use
the cluster through their own ``backend=`` option.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["Backend", "SerialBackend", "JoblibBackend", "DaskBackend", "get_backend", "backend_scope", "spawn_seeds",
           "BACKEND_NAMES"]

BACKEND_NAMES = ("serial", "processes", "loky", "threads", "dask")
# batches per worker: enough to balance uneven tasks, few enough to keep the overhead small
_BATCHES_PER_WORKER = 4


def spawn_seeds(seed: int | np.random.SeedSequence | None, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``SeedSequence(seed)``, one per task."""
    if n < 0:
        raise ValueError(f"number of seeds must be >= 0, got {n}")
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n)


def _run_batch(fn: Callable, shared: Any, batch: Sequence[Any]) -> list:
    """Run ``fn(shared, task)`` for each task of a batch with single-threaded BLAS."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return [fn(shared, t) for t in batch]


def _batches(tasks: list, n_batches: int) -> list[list]:
    n_batches = max(1, min(len(tasks), n_batches))
    bounds = np.linspace(0, len(tasks), n_batches + 1).astype(int)
    return [tasks[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class Backend:
    """Where independent tasks run. Use :func:`get_backend` to make one.

    ``map(fn, tasks, shared=None)`` returns ``[fn(shared, t) for t in tasks]``
    (in order); ``fn`` must be a module-level function (picklable) for the
    process and Dask back ends. A back end is a context manager; ``close()``
    releases what it started (a LocalCluster, a Client it opened).
    """

    name = "base"
    n_workers = 1

    def map(self, fn: Callable[[Any, Any], Any], tasks: Iterable[Any], shared: Any = None) -> list:
        tasks = list(tasks)
        if not tasks:
            return []
        parts = self._map_batches(fn, shared, _batches(tasks, self.n_workers * _BATCHES_PER_WORKER))
        return [r for part in parts for r in part]

    def map_seeded(self, fn: Callable[[Any, Any, np.random.SeedSequence], Any], tasks: Iterable[Any],
                   seed: int | np.random.SeedSequence | None, shared: Any = None) -> list:
        """``[fn(shared, task, seed_i)]`` with ``seed_i = spawn_seeds(seed, n)[i]``."""
        tasks = list(tasks)
        seeds = spawn_seeds(seed, len(tasks))
        return self.map(_Seeded(fn), list(zip(tasks, seeds)), shared)

    @property
    def runner_jobs(self) -> int:
        """Number of notebook kernels the notebook runner should run at a time."""
        return self.n_workers

    def _map_batches(self, fn, shared, batches):  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release resources this back end started."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"


class _Seeded:
    """Adapter calling ``fn(shared, task, seed)`` on ``(task, seed)`` pairs (picklable)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, shared, pair):
        task, seed = pair
        return self.fn(shared, task, seed)


class SerialBackend(Backend):
    """All tasks in this process, in order."""

    name = "serial"

    def map(self, fn, tasks, shared=None):
        tasks = list(tasks)
        return _run_batch(fn, shared, tasks) if tasks else []


class JoblibBackend(Backend):
    """Local worker processes (``prefer="processes"``, loky) or threads (joblib)."""

    def __init__(self, n_workers: int | None = None, prefer: str = "processes"):
        if prefer not in ("processes", "threads"):
            raise ValueError(f"prefer must be 'processes' or 'threads', got {prefer!r}")
        self.n_workers = _n_workers(n_workers)
        self.prefer = prefer
        self.name = prefer

    def _map_batches(self, fn, shared, batches):
        from joblib import Parallel, delayed

        if self.n_workers == 1:
            return [_run_batch(fn, shared, b) for b in batches]
        return Parallel(n_jobs=self.n_workers, prefer=self.prefer)(
            delayed(_run_batch)(fn, shared, b) for b in batches)


class DaskBackend(Backend):
    """Tasks on a Dask distributed cluster: an existing ``Client``, an address, or a
    new ``LocalCluster`` (``n_workers`` processes with one thread each)."""

    name = "dask"

    def __init__(self, client: Any = None, n_workers: int | None = None, **cluster_kwargs):
        from distributed import Client, LocalCluster

        self._owned: list = []
        if client is None:
            cluster_kwargs.setdefault("threads_per_worker", 1)
            cluster_kwargs.setdefault("processes", True)
            cluster_kwargs.setdefault("dashboard_address", None)
            cluster = LocalCluster(n_workers=_n_workers(n_workers), **cluster_kwargs)
            client = Client(cluster)
            self._owned = [client, cluster]
        elif isinstance(client, str):
            client = Client(client)
            self._owned = [client]
        elif not isinstance(client, Client):
            raise TypeError(f"expected a distributed.Client or a scheduler address, got {type(client).__name__}")
        self.client = client
        workers = client.scheduler_info().get("workers", {})
        self.n_workers = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    @property
    def runner_jobs(self) -> int:
        return _n_workers(None)

    def _map_batches(self, fn, shared, batches):
        # hash=False: a unique key per call. With content hashing, scattering equal data twice
        # reuses one key, and releasing the first call's future can drop the data the second
        # call still needs ("lost dependencies").
        shared_f = self.client.scatter(shared, broadcast=True, hash=False) if shared is not None else None
        futures = [self.client.submit(_run_batch, fn, shared_f, b, pure=False) for b in batches]
        try:
            return self.client.gather(futures)
        finally:
            del futures, shared_f

    def close(self) -> None:
        for obj in self._owned:
            obj.close()
        self._owned = []

    def __repr__(self) -> str:
        return f"DaskBackend({self.client.scheduler.address!r}, n_workers={self.n_workers})"


def _n_workers(n: int | None) -> int:
    cores = os.cpu_count() or 1
    if n is None or n == -1:
        return cores
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n == 0 or n < -1:
        raise ValueError(f"n_workers must be a positive integer or -1 (all cores), got {n!r}")
    return int(n)


def get_backend(backend: Any = "serial", n_workers: int | None = None) -> Backend:
    """Make an execution back end (see the module docstring for the choices).

    ``n_workers`` is the number of local processes/threads, or of LocalCluster
    workers for ``"dask"`` (default: all cores); it is ignored for serial and for
    an existing Client. A :class:`Backend` passed in is returned unchanged.
    """
    if isinstance(backend, Backend):
        return backend
    if backend is None or backend == "serial":
        return SerialBackend()
    if isinstance(backend, str):
        key = backend.lower()
        if key in ("processes", "loky", "joblib"):
            return JoblibBackend(n_workers, "processes")
        if key == "threads":
            return JoblibBackend(n_workers, "threads")
        if key == "dask":
            return DaskBackend(None, n_workers)
        if "://" in backend:
            return DaskBackend(backend)
        raise ValueError(f"unknown backend {backend!r}; choose one of {list(BACKEND_NAMES)}, "
                         "a distributed.Client or a scheduler address such as 'tcp://host:8786'")
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        Client = ()
    if isinstance(backend, Client):
        return DaskBackend(backend)
    raise TypeError(f"backend must be a name {list(BACKEND_NAMES)}, a distributed.Client, an address "
                    f"or a Backend, got {type(backend).__name__}")


class backend_scope:
    """Context manager: the back end for ``backend``/``n_workers``, closed on exit only
    when it was created here (a Backend or Client passed in stays open)."""

    def __init__(self, backend: Any = "serial", n_workers: int | None = None):
        self._given = backend if isinstance(backend, Backend) else None
        self.backend = self._given or get_backend(backend, n_workers)

    def __enter__(self) -> Backend:
        return self.backend

    def __exit__(self, *exc) -> None:
        if self._given is None:
            self.backend.close()
