"""A day's plan from a source: its files, who owns which window, and the day before's last file when
it may reach past midnight. The day flow and `whaledr overview` both start here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from . import listing
from .catalog import Hydrophone
from .clips import ClipSettings, DayPlan, day_index, plan_day
from .listing import RawFile


def day_before_needed(files: Sequence[RawFile], day: dt.date, clip_settings: ClipSettings) -> bool:
    """The day before is listed only when its last file may reach past midnight into this day:
    when this day has no file, or its first file starts later than a clip may miss."""
    return not files or day_index(files[0].start, day, clip_settings.sample_rate) > clip_settings.tolerance_samples


def listed_plan(source: str, hydrophone: Hydrophone, day: dt.date,
                clip_settings: ClipSettings) -> tuple[str | None, DayPlan]:
    """(the day folder found, or None; the day's plan), the day before asked only when needed."""
    folder, files = listing.list_day(source, hydrophone, day)
    previous = None
    if day_before_needed(files, day, clip_settings):
        before = listing.list_day(source, hydrophone, day - dt.timedelta(days=1))[1]
        previous = before[-1] if before else None
    return folder, plan_day(day, files, clip_settings, previous)
