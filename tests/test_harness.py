"""The suite's own guard on Prefect servers' logs (`conftest.assert_no_traceback`), on log text of the
form Prefect 3.9.1 wrote when CI met SQLite's lock (a worker's heartbeat not saved)."""

from __future__ import annotations

import pytest

from conftest import SQLITE_BUSY_ALLOWED, assert_no_traceback

BUSY = """02:28:51.500 | ERROR   | prefect.server.utilities.worker_channel - Worker channel heartbeat \
persistence failed: work_pool=whaledr worker_name=worker-2
Traceback (most recent call last):
  File "sqlalchemy/engine/base.py", line 1977, in _exec_single_context
    self.dialect.do_execute(
  File "aiosqlite/core.py", line 63, in _connection_worker_thread
    result = function()
             ^^^^^^^^^^
sqlite3.OperationalError: database is locked

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "prefect/server/utilities/worker_channel.py", line 686, in _receive_loop
    pool_updated = await _persist_worker_channel_heartbeat(
sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked
[SQL: INSERT INTO worker (work_pool_id, name) VALUES (:work_pool_id, :name)]
(Background on this error at: https://sqlalche.me/e/21/e3q8)
"""

BROKEN = """06:00:01.000 | ERROR   | prefect.server.services.scheduler - Unexpected error in: Scheduler
Traceback (most recent call last):
  File "prefect/server/services/scheduler.py", line 99, in run_once
    raise AttributeError("'Select' object has no attribute 'with_for_update'")
AttributeError: 'Select' object has no attribute 'with_for_update'
"""

INFO = "02:28:50.000 | INFO    | prefect.server - Uvicorn running on http://127.0.0.1:4200\n"
UNAWAITED = "base_events.py:1: RuntimeWarning: coroutine 'Runner._cancel' was never awaited\n"


def log(*entries: str) -> str:
    """Entries back to back, as Prefect's logging writes them: the only blank lines are a chain's."""
    return "".join([INFO, *entries, INFO])


def test_a_few_sqlite_lock_refusals_are_load_and_pass():
    assert BUSY.count("Traceback (most recent call last)") == 2  # one refusal, told as a chained pair
    assert_no_traceback(log(*[BUSY] * SQLITE_BUSY_ALLOWED), "a server log")


def test_more_lock_refusals_than_allowed_fail():
    with pytest.raises(AssertionError, match="database is locked"):
        assert_no_traceback(log(*[BUSY] * (SQLITE_BUSY_ALLOWED + 1)), "a server log")


def test_any_other_traceback_fails_beside_a_lock_refusal():
    with pytest.raises(AssertionError, match="with_for_update") as e:
        assert_no_traceback(log(BUSY, BROKEN, BUSY), "a server log")
    assert "database is locked" not in str(e.value)


def test_a_traceback_without_a_header_after_a_lock_refusal_still_fails():
    broken_bare = BROKEN.split("\n", 1)[1]  # printed to stderr, not logged: it joins the entry before it
    with pytest.raises(AssertionError, match="with_for_update"):
        assert_no_traceback(log(BUSY, broken_bare), "a server log")
    with pytest.raises(AssertionError, match="never awaited"):
        assert_no_traceback(log(BUSY, UNAWAITED), "a server log")


def test_an_entry_is_judged_alone_when_a_blank_line_precedes_it():
    assert_no_traceback(log(BUSY, "\n", INFO, BUSY), "a server log")
    with pytest.raises(AssertionError, match="with_for_update"):
        assert_no_traceback(log(BUSY, "\n\n", BROKEN), "a server log")
