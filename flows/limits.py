"""One bound on the downloads from the OOI server, shared by every day run on every worker: the Prefect
global concurrency limit `ooi-downloads` (docs, "Spare the OOI server").

Each day run fetches `downloads.concurrency` files at once, a worker runs several day runs, and more
workers multiply that; OOI's own pipeline documents that its server truncates transfers under load.
A global limit lives on the Prefect server, so every process that downloads asks the same counter, and
a new number of slots set in the UI's Concurrency page applies to the next download that asks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

DOWNLOAD_LIMIT = "ooi-downloads"
"""The global concurrency limit's name, on the Prefect server (UI: Concurrency, Global)."""

DEFAULT_DOWNLOAD_SLOTS = 8
"""Downloads in flight at once from every worker together, unless the operator sets another number:
two day runs' worth of the default `downloads.concurrency` (4)."""

_warned = threading.Event()


@dataclass(frozen=True)
class LimitState:
    slots: int
    active: bool
    in_use: int
    created: bool
    """True when this call created it."""


def ensure_download_limit(slots: int | None = None) -> LimitState:
    """The limit on the current Prefect server, created with DEFAULT_DOWNLOAD_SLOTS when absent; with
    `slots`, set to that number (created or changed). An operator's number is kept otherwise."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    if slots is not None and slots < 1:
        raise ValueError(f"the download limit needs at least 1 slot (got {slots}); "
                         "to stop downloads, pause the work pool")
    with get_client(sync_client=True) as client:
        created = False
        try:
            client.read_global_concurrency_limit_by_name(DOWNLOAD_LIMIT)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(
                    name=DOWNLOAD_LIMIT, limit=slots or DEFAULT_DOWNLOAD_SLOTS))
                created = True
            except ObjectAlreadyExists:  # another process made it meanwhile
                pass
        if slots is not None and not created:
            client.update_global_concurrency_limit(DOWNLOAD_LIMIT, GlobalConcurrencyLimitUpdate(limit=slots))
        limit = client.read_global_concurrency_limit_by_name(DOWNLOAD_LIMIT)
    return LimitState(limit.limit, limit.active, limit.active_slots, created)


def _limit_exists() -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(DOWNLOAD_LIMIT)
        except ObjectNotFound:
            return False
    return True


@contextmanager
def download_slot(logger: logging.Logger | logging.LoggerAdapter) -> Iterator[None]:
    """Hold one slot of `ooi-downloads` while the block downloads, waiting for one if all are taken.

    Where the server has no such limit (a `whaledr run` with its own temporary server, or a server
    nobody set up), Prefect's `concurrency()` would log a warning for every download and bound
    nothing; here the download goes ahead bounded by its day's `downloads.concurrency` alone, and the
    process says so once. The limit is looked up for each download, so one created later applies to
    the next download."""
    from prefect.concurrency.sync import concurrency

    if not _limit_exists():
        if not _warned.is_set():
            _warned.set()
            logger.info("no global concurrency limit %r on this Prefect server: downloads are bounded only by "
                        "each day run's downloads.concurrency; `whaledr download-limit` creates it", DOWNLOAD_LIMIT)
        yield
        return
    with concurrency(DOWNLOAD_LIMIT, occupy=1, holder=_holder()):
        yield


def _holder():
    """The task run holding the slot, as the UI's Concurrency page shows it (when there is one)."""
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.context import TaskRunContext

    ctx = TaskRunContext.get()
    return ConcurrencyLeaseHolder(type="task_run", id=ctx.task_run.id) if ctx else None
