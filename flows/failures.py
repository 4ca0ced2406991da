"""Failures a person can act on, shown as one line: the run's state message, without a traceback.

A flow that raises gets Prefect's "Encountered exception during execution" and a traceback in its
log, and its state message wraps ours ("Flow run encountered an exception: ..."). For a day with
no data, a range given backwards or a day whose failed files are named in its manifest, that noise
hides the one line that matters. Flows decorated with `one_line_failures` end in a `Failed` state
whose message is that line; any other exception keeps its traceback.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import get_run_logger
from prefect.exceptions import FailedRun
from prefect.states import Failed

from whaledr_core.catalog import UnknownHydrophone
from whaledr_core.days import DayRangeError

from .app import AppMismatch
from .targets import BlockMissing


class ExpectedFailure(RuntimeError):
    """A run that ended as its inputs allow: the message says what happened and what to do."""


EXPECTED: tuple[type[Exception], ...] = (ExpectedFailure, DayRangeError, UnknownHydrophone, BlockMissing, AppMismatch)
"""A missing block or an app whose templates disagree with the output are mistakes in the run's
parameters: one line says which."""

F = TypeVar("F", bound=Callable[..., Any])


def one_line_failures(fn: F) -> F:
    """Put under `@flow`: an expected failure returns `Failed(message=...)` instead of raising."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EXPECTED as e:
            get_run_logger().error("%s", e)
            return Failed(message=str(e))

    # Prefect builds the run form from the signature and resolves its names in the wrapper's
    # globals, which are this module's: hand it the flow's types resolved where they were written.
    wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class _NoTracebackForReturnedFailures(logging.Filter):
    """A deployment's run that ends in a Failed state it returned still gets "Engine execution exited
    with unexpected exception" and a traceback through Prefect's engine, ending in `FailedRun` and the
    state message again. Nothing there is unexpected: that record is dropped. A run that raised is
    logged as before."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], FailedRun))


logging.getLogger("prefect.flow_runs").addFilter(_NoTracebackForReturnedFailures())


class _NoReprOfReturnedTaskStates(logging.Filter):
    """A task that returns a Failed state (a backfill's `run-day` for a day that failed or lists no file)
    gets Prefect's "Task run failed with state: Failed(message=..., result=...)" with an empty traceback
    ("NoneType: None") before its own "Finished in state Failed('...')": the second says it once, plainly.
    A task that raised is logged as before."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Task run failed with state: ")


logging.getLogger("prefect.task_runs").addFilter(_NoReprOfReturnedTaskStates())
