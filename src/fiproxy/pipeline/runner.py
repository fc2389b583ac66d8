"""Execute parameterized notebooks into a run directory, in parallel, with a cache.

Each task is one jupytext notebook with parameters. The runner

1. validates every task's parameters against the notebook's ``parameters`` cell
   before any kernel starts (:mod:`fiproxy.pipeline.params`);
2. looks each task up in the content-addressed cache (:mod:`fiproxy.pipeline.cache`);
3. executes the others with papermill on a kernel of this environment, several
   at a time (threads; each kernel has private IPC sockets), respecting
   declared dependencies; a failed notebook does not stop independent ones and
   its dependants are skipped;
4. writes each notebook's outputs into a staging directory that is renamed into
   ``<run_dir>/notebooks/<name>/`` only when the notebook finished, so nothing
   half-written is ever taken as done.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from fiproxy.pipeline.atomic import publish_dir
from fiproxy.pipeline.cache import Cache, task_key
from fiproxy.pipeline.kernel import KERNEL_NAME, IPCKernelManager, ensure_kernelspec
from fiproxy.pipeline.params import read_notebook, validate_parameters

__all__ = ["NotebookTask", "TaskOutcome", "run_notebooks", "RESERVED_PARAMETERS"]

# Parameters the runner sets itself; notebooks declare them, users do not pass them.
RESERVED_PARAMETERS = ("output_dir",)

logging.getLogger("papermill").setLevel(logging.WARNING)
logging.getLogger("traitlets").setLevel(logging.ERROR)


@dataclass(frozen=True)
class NotebookTask:
    """One notebook to execute with its parameters."""

    name: str
    path: Path
    params: dict[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()


@dataclass
class TaskOutcome:
    name: str
    status: str  # executed | cached | failed | timeout | skipped
    seconds: float = 0.0
    key: str = ""
    output_dir: str = ""
    error: dict | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _validate(tasks: list[NotebookTask]) -> None:
    names = [t.name for t in tasks]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"duplicate notebook task names: {sorted(dup)}")
    for t in tasks:
        missing = [d for d in t.depends_on if d not in names]
        if missing:
            raise ValueError(f"task {t.name!r} depends on unknown task(s) {missing}")
        reserved = [p for p in RESERVED_PARAMETERS if p in t.params]
        if reserved:
            raise ValueError(f"task {t.name!r}: parameter(s) {reserved} are set by the runner")
        validate_parameters(t.path, t.params)
    order, deps = [], {t.name: set(t.depends_on) for t in tasks}
    while deps:
        ready = [n for n, d in deps.items() if not d - set(order)]
        if not ready:
            raise ValueError(f"notebook dependencies form a cycle among {sorted(deps)}")
        order += ready
        for n in ready:
            del deps[n]


def _execute(task: NotebookTask, final_dir: Path, timeout: float) -> None:
    import papermill

    staging = final_dir.parent / f".{final_dir.name}.staging-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        nb = read_notebook(task.path)
        params = {**task.params, "output_dir": str(staging)}
        papermill.execute_notebook(
            nb,
            str(staging / "notebook.ipynb"),
            parameters=params,
            kernel_name=KERNEL_NAME,
            language="python",
            progress_bar=False,
            execution_timeout=timeout,
            kernel_manager_class=IPCKernelManager,
        )
        publish_dir(staging, final_dir)
    except BaseException:
        failed = final_dir.parent / f"{final_dir.name}.failed"
        shutil.rmtree(failed, ignore_errors=True)
        if staging.exists():
            staging.rename(failed)
        raise


def _describe_error(exc: BaseException, timeout: float) -> tuple[str, dict]:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return "failed", {
            "cell_index": exc.cell_index,
            "execution_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": exc.evalue,
            "source": exc.source,
        }
    if isinstance(exc, CellTimeoutError) or "Timeout" in type(exc).__name__:
        return "timeout", {"ename": type(exc).__name__,
                           "evalue": f"a cell ran longer than the timeout of {timeout:g} s; the kernel was stopped"}
    if isinstance(exc, DeadKernelError):
        return "failed", {"ename": "DeadKernelError", "evalue": str(exc)}
    return "failed", {"ename": type(exc).__name__, "evalue": str(exc)}


def run_notebooks(
    tasks: list[NotebookTask],
    run_dir: Path,
    *,
    jobs: int = 2,
    timeout: float = 600.0,
    cache: Cache | None = None,
    data_hashes: dict[str, str] | None = None,
    on_event: Callable[[TaskOutcome], None] | None = None,
    executor: Executor | None = None,
) -> dict[str, TaskOutcome]:
    """Run notebook tasks into ``run_dir/notebooks/<name>/``; return outcomes by name.

    ``timeout`` applies to every cell (nbclient's execution timeout): a hung
    kernel is stopped and the task reported as ``timeout``. ``executor`` runs the
    notebooks elsewhere (any ``concurrent.futures.Executor``, e.g. a Dask
    ``Client.get_executor()`` whose workers see the same file system); by default
    ``jobs`` local threads each drive one kernel.
    """
    _validate(tasks)
    ensure_kernelspec()
    run_dir = Path(run_dir)
    (run_dir / "notebooks").mkdir(parents=True, exist_ok=True)
    data_hashes = data_hashes or {}
    outcomes: dict[str, TaskOutcome] = {}
    pending = {t.name: t for t in tasks}
    keys = {t.name: task_key(t.path, t.params, data_hashes) for t in tasks}
    running: dict[Future, tuple[NotebookTask, float, str]] = {}

    def finish(o: TaskOutcome) -> None:
        outcomes[o.name] = o
        if on_event:
            on_event(o)

    pool = executor or ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="nb")
    try:
        while pending or running:
            for name, t in list(pending.items()):
                deps = [outcomes.get(d) for d in t.depends_on]
                if any(d is not None and d.status not in ("executed", "cached") for d in deps):
                    del pending[name]
                    finish(TaskOutcome(name, "skipped", error={"evalue": f"dependency failed: {t.depends_on}"}))
                    continue
                if any(d is None for d in deps):
                    continue
                key, final_dir = keys[name], run_dir / "notebooks" / name
                if cache is not None and cache.get(key) is not None:
                    del pending[name]
                    t0 = time.perf_counter()
                    cache.restore(key, final_dir)
                    finish(TaskOutcome(name, "cached", time.perf_counter() - t0, key, str(final_dir)))
                elif len(running) < max(1, jobs):  # otherwise it waits for a free slot
                    del pending[name]
                    running[pool.submit(_execute, t, final_dir, timeout)] = (t, time.perf_counter(), key)
            if not running:
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                t, t0, key = running.pop(fut)
                final_dir = run_dir / "notebooks" / t.name
                exc = fut.exception()
                secs = time.perf_counter() - t0
                if exc is None:
                    if cache is not None:
                        cache.put(key, final_dir)
                    finish(TaskOutcome(t.name, "executed", secs, key, str(final_dir)))
                else:
                    status, err = _describe_error(exc, timeout)
                    finish(TaskOutcome(t.name, status, secs, key, "", err))
    except BaseException:
        # Interrupted (SIGINT/SIGTERM): do not wait for running notebooks; their staging
        # directories are never published, and their kernels exit with this process.
        if executor is None:
            pool.shutdown(wait=False, cancel_futures=True)
        raise
    if executor is None:
        pool.shutdown(wait=True)
    return outcomes
