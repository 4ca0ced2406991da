"""The task runners a day's files are processed on, and what each needs to recover from a worker's death.

- "lean" (the default): each file's `process` task runs in a thread of the flow's process (a
  `ThreadPoolTaskRunner`) and hands the file to one of the day's own spawned worker processes, which
  import no Prefect (`flows.pool`). A worker killed mid-file breaks that pool; it replaces itself and
  the task's retry runs the file on the new one.
- "prefect": Prefect's own `ProcessPoolTaskRunner`; each file's `process` task runs in a worker
  process, Prefect's engine with it. Prefect's pool is not rebuilt when a worker dies: every file
  that was on it fails with BrokenProcessPool, and the day runs those files again on a new pool
  (`_Work` in `flows.day`), once.

What each costs is measured by `python -m bench.run --runners lean,prefect`: on Prefect 3.9.1 the
prefect runner took 10-37 % more core time a clip and 125 MiB more a worker (docs, Architecture, "The two
task runners"), so lean stays the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .pool import worker_count

if TYPE_CHECKING:
    from prefect.task_runners import ProcessPoolTaskRunner

TaskRunnerName = Literal["lean", "prefect"]
LEAN: TaskRunnerName = "lean"
PREFECT: TaskRunnerName = "prefect"
TASK_RUNNERS: tuple[TaskRunnerName, ...] = (LEAN, PREFECT)
DEFAULT_TASK_RUNNER: TaskRunnerName = LEAN


def prefect_pool(workers: int | None) -> ProcessPoolTaskRunner:
    """Prefect's process pool, `workers` processes (one per CPU by default), each set up once."""
    from prefect.task_runners import ProcessPoolTaskRunner

    return ProcessPoolTaskRunner(max_workers=worker_count(workers), initializer=_worker_setup)


def _worker_setup() -> None:
    """Runs once in each of Prefect's worker processes, before its first task: one Prefect client
    for the life of the process. Prefect 3.9.1 otherwise builds two for every task run (one as it
    rebuilds the run's context, one in the task engine), each with its own SSL context and a call
    to the API for its version; a client context entered here is the one both find and reuse.
    It is never left: the process ends with it."""
    from prefect.context import SyncClientContext

    SyncClientContext().__enter__()


def mark_crashed(future: Any, why: str) -> None:
    """The task run of a future whose worker process died is left Running by Prefect: say Crashed, and
    why. A run its worker never started (Prefect creates it in the worker) does not exist: nothing to say."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            run = client.read_task_run(future.task_run_id)
            if run.state is None or not run.state.is_final():
                client.set_task_run_state(future.task_run_id, Crashed(message=why), force=True)
    except ObjectNotFound:
        pass
