"""What a rerun of a day can skip, and what a finished day no longer needs.

Every stage is idempotent: a rerun looks at the previous day manifest and at the keys already
stored, and does only what is missing. These decisions are pure, so they are tested without Prefect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import daymanifest, publish, recurring
from .clips import ClipSettings, DayPlan, FileUnit
from .fetch import cache_path, is_remote
from .fileclips import NOT_STORED, FileResult, clip_ids, stored_ids
from .render import RenderSettings, wav_size


@dataclass(frozen=True)
class RerunPlan:
    reused: dict[str, FileResult]
    """Files the previous run finished, with every clip still stored: neither fetched nor decoded."""
    todo: list[FileUnit]
    """Files to fetch and process, in the day's order."""
    done: dict[str, frozenset[str]]
    """For each unit to process (by `FileUnit.key`), the IDs of its clips already stored: not rendered again."""


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
    if overwrite:
        return RerunPlan({}, list(plan.units), {u.key: frozenset() for u in plan.units})
    done = stored_clips(plan.units, plan.day, existing, prefix, node, clip_settings, render_settings)
    stored = frozenset().union(*done.values())
    reused = daymanifest.reusable(previous, plan, clip_settings, render_settings, stored)
    todo = [u for u in plan.units if u.key not in reused]
    return RerunPlan(reused, todo, {u.key: done[u.key] for u in todo})


def stored_clips(units: Iterable[FileUnit], day: dt.date, existing: Mapping[str, int], prefix: str, node: str,
                 clip_settings: ClipSettings, render_settings: RenderSettings) -> dict[str, frozenset[str]]:
    """For each unit's key, the IDs of its windows whose clip is stored whole (`fileclips.stored_ids`):
    a rerun does not render them again. Repairs (`ownership.arbitrate`) ask too."""
    ids = {u.key: frozenset(clip_ids(u, day, node, clip_settings).values()) for u in units}
    wav_bytes = wav_size(render_settings, clip_settings.window, clip_settings.sample_rate)
    stored = stored_ids(existing, prefix, set().union(*ids.values()), wav_bytes, render_settings.image.extension)
    return {key: frozenset(these & stored) for key, these in ids.items()}


def downloads_to_drop(plan: DayPlan, cache: Path) -> list[Path]:
    """The cached downloads of a finished day (its files and the next day's head it read): a rerun
    reuses the day manifest and fetches none of them. A folder source's own files are never listed."""
    files = [f for u in plan.units for f in (u.file, u.next_file) if f is not None]
    return [cache_path(cache, f.url) for f in files if is_remote(f.url)]


@dataclass(frozen=True)
class DayChoice:
    reasons: dict[int, str]
    """Every whole window with data (a clip, stored or not) and every window published before -> why it
    is or is not published (`publish` reasons)."""
    render: dict[str, frozenset[int]]
    """For each unit (`FileUnit.key`), the windows to store that the results hold as NOT_STORED: its second pass."""


def choose_day(
    results: Iterable[FileResult],
    budget: publish.Budget,
    store_all: bool,
    *,
    node: str,
    day: dt.date,
    previous: dict[str, Any] | None,
) -> DayChoice:
    """The day's published windows, and what must still be encoded for them (or for every clip, with
    `store_all`). Only whole windows compete: a short window never becomes a clip. A window without
    a score (its file too short for a noise floor) is published only with `all`. Sounds a machine
    repeats at a fixed period through the day are taken out of the ranking first (`recurring`). What an
    earlier run published stays published (`kept`): volunteers' votes hang on those IDs."""
    results = list(results)
    whole = {k for r in results for k in clip_windows(r)}
    scores = {k: s for r in results for k, s in r.scores.items() if k in whole}
    scores, _ = recurring.discount(scores, {k: p for r in results for k, p in r.peaks.items()})
    reasons = publish.choose(scores, budget, node=node, day=day,
                             previous=previously_published(previous))
    for k in whole - set(scores):
        reasons.setdefault(k, publish.ALL if budget.is_all else publish.BELOW_BUDGET)
    wanted = whole if store_all else set(publish.published(reasons))
    render = {}
    for r in results:
        missing = frozenset(k for k, reason, _ in r.skipped if reason == NOT_STORED and k in wanted)
        if missing:
            render[r.key] = missing
    return DayChoice(dict(sorted(reasons.items())), render)


def clip_windows(r: FileResult) -> list[int]:
    """The file's whole windows with data: its clips and those scored but not stored."""
    return sorted([k for _, k, _ in r.clips] + [k for k, reason, _ in r.skipped if reason == NOT_STORED])


def previously_published(previous: dict[str, Any] | None) -> frozenset[int]:
    """Windows an earlier run of the day published."""
    return frozenset(daymanifest.published_windows(previous)) if previous else frozenset()
