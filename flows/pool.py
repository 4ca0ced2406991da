"""The day's worker processes: plain spawned processes that run the core, driven by Prefect tasks in threads.

Prefect's process-pool task runner rebuilt a Prefect client, its settings and its run context in the
worker for every task: about 160 ms a file, a third of what the file's clips cost (bench/README.md,
"Where a clip's time goes"). Here each file is still one Prefect task, with its retries, name,
state and logs, but the task runs in a thread of the flow's process and hands the file to a worker
that imports no Prefect at all. The workers are leaner too: no Prefect in their memory. Measured
again on Prefect 3.9.1, whose runner forwards events and takes an initializer (`flows.runners`, "prefect"):
still 10-37 % more core time a clip and 125 MiB more a worker.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_current: WorkerPool | None = None


def worker_count(workers: int | None) -> int:
    """The pool's size: `workers`, or one per CPU."""
    return workers or os.cpu_count() or 1


class WorkerPool:
    """A spawned process pool that replaces itself when a worker dies (killed, or out of memory).

    The jobs that were on the broken pool fail with BrokenProcessPool; their tasks' retries run
    them on the new one.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = worker_count(workers)
        self._lock = threading.Lock()
        self._executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))

    def run(self, job: Callable[[], T]) -> T:
        executor = self._executor
        try:
            return executor.submit(job).result()
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:  # the first to see it replaces it
                    self._executor = self._new()
            executor.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def worker_pool(workers: int | None) -> Iterator[WorkerPool]:
    """The pool that `run_on_workers` uses in this process while the block lasts."""
    global _current
    pool = WorkerPool(workers)
    before, _current = _current, pool
    try:
        yield pool
    finally:
        _current = before
        pool.close()


def run_on_workers(job: Callable[[], T]) -> T:
    """On the current pool's workers; here when there is none (a task on a Dask worker)."""
    pool = _current
    return job() if pool is None else pool.run(job)
