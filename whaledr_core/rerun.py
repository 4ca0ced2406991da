"""What a rerun of a day can skip, and what a finished day no longer needs.

Every stage is idempotent: a rerun looks at the previous day manifest and at the keys already
stored, and does only what is missing. These decisions are pure, so they are tested without Prefect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import daymanifest
from .clips import ClipSettings, DayPlan, FileUnit, day_index
from .fetch import cache_path, is_remote
from .fileclips import FileResult, clip_ids, stored_ids
from .listing import RawFile
from .render import RenderSettings, wav_size


@dataclass(frozen=True)
class RerunPlan:
    reused: dict[str, FileResult]
    """Files the previous run finished, with every clip still stored: neither fetched nor decoded."""
    todo: list[FileUnit]
    """Files to fetch and process, in the day's order."""
    done: dict[str, frozenset[str]]
    """For each file to process, the IDs of its clips already stored: not rendered again."""


def plan_rerun(
    plan: DayPlan,
    previous: dict[str, Any] | None,
    existing: Mapping[str, int],
    prefix: str,
    node: str,
    clip_settings: ClipSettings,
    render_settings: RenderSettings,
    overwrite: bool = False,
) -> RerunPlan:
    """`existing` is what the output holds under the day (key -> size); with `overwrite`, nothing counts."""
    ids = {u.file.name: frozenset(clip_ids(u, plan.day, node, clip_settings).values()) for u in plan.units}
    if overwrite:
        return RerunPlan({}, list(plan.units), {name: frozenset() for name in ids})
    wav_bytes = wav_size(render_settings, clip_settings.window, clip_settings.sample_rate)
    stored = stored_ids(existing, prefix, set().union(*ids.values()), wav_bytes, render_settings.image.extension)
    reused = daymanifest.reusable(previous, plan, clip_settings, render_settings, stored)
    todo = [u for u in plan.units if u.file.name not in reused]
    return RerunPlan(reused, todo, {u.file.name: ids[u.file.name] & stored for u in todo})


def day_before_needed(files: Sequence[RawFile], day: dt.date, clip_settings: ClipSettings) -> bool:
    """The day before is listed only when its last file may reach past midnight into this day:
    when this day has no file, or its first file starts later than a clip may miss."""
    return not files or day_index(files[0].start, day, clip_settings.sample_rate) > clip_settings.tolerance_samples


def downloads_to_drop(plan: DayPlan, cache: Path) -> list[Path]:
    """The cached downloads of a finished day (its files and the next day's head it read): a rerun
    reuses the day manifest and fetches none of them. A folder source's own files are never listed."""
    files = [f for u in plan.units for f in (u.file, u.next_file) if f is not None]
    return [cache_path(cache, f.url) for f in files if is_remote(f.url)]
