"""Which days a scheduled or backfill run covers, and the key that makes each day's run happen once.

OOI posts a day's files with a delay, so the daily run works on the day `lag_days` behind the time
it was scheduled for (not the time it happened to start: a run that waited an hour for a worker
still means the same day).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

DEFAULT_LAG_DAYS = 1
"""OOI has posted most of a day's files by the next morning (UTC)."""

MAX_DAYS_WITHOUT_CONFIRMATION = 31
"""A longer backfill is refused unless confirmed: a typo in a year costs thousands of hydrophone-days."""


class DayRangeError(ValueError):
    """A date range that no run should start from; the message is one line for a user."""


def day_range(start: dt.date, end: dt.date, max_days: int | None = MAX_DAYS_WITHOUT_CONFIRMATION) -> list[dt.date]:
    """Every day from `start` to `end`, both included; more than `max_days` (unless None) is refused."""
    if end < start:
        raise DayRangeError(f"end {end} is before start {start}")
    count = (end - start).days + 1
    if max_days is not None and count > max_days:
        raise too_long(start, end, max_days)
    return [start + dt.timedelta(days=i) for i in range(count)]


def too_long(start: dt.date, end: dt.date, max_days: int) -> DayRangeError:
    count = (end - start).days + 1
    return DayRangeError(f"{start}..{end} is {count} days, more than {max_days} without confirmation; "
                         f"confirm it (--yes, or max_days >= {count})")


def lagged_day(scheduled: dt.datetime, lag_days: int = DEFAULT_LAG_DAYS) -> dt.date:
    """The UTC day a run scheduled at `scheduled` works on."""
    if lag_days < 0:
        raise DayRangeError(f"lag_days must be 0 or more (got {lag_days})")
    if scheduled.tzinfo is not None:
        scheduled = scheduled.astimezone(dt.UTC)
    return scheduled.date() - dt.timedelta(days=lag_days)


def day_run_key(node: str, day: dt.date, parameters: dict, salt: str = "") -> str:
    """The idempotency key of one day's run: the same day asked again with the same parameters is the
    same run, whichever backfill (or a retry of it) asks. `salt` makes a deliberate redo a new run."""
    digest = hashlib.sha256(
        json.dumps({"params": parameters, "salt": salt}, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    return f"whaledr-day/{node}/{day.isoformat()}/{digest}"
