"""The day overview made again from a stored day: `whaledr overview DATE --hydrophone X`.

The day run draws the overview from the columns its workers keep while they make clips, and those
columns are not stored: at 200 frequency rows a whole day's would be ~7 MB per hydrophone-day beside
a ~200 kB picture, for a remake that is rarely asked for. So a remake reads the day's files again,
with the settings the day manifest records, and computes each window's column as the day run did
(decode, spectrogram, column and score; nothing encoded, nothing stored). The scores and published
marks come from the manifest, so the picture shows what volunteers were given.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from . import daymanifest
from .catalog import get_hydrophone
from .clips import ClipSettings, FileUnit, Skip
from .dayplan import listed_plan
from .fetch import FetchError, local_copy
from .fileclips import FileResult, FileStatus, failed, process_file
from .listing import RawFile
from .ownership import arbitrate
from .render import RenderSettings
from .sinks import LocalSink


class NothingToDraw(Exception):
    """No day manifest, or none of the day's files could be read again."""


def settings(record: dict[str, Any]) -> tuple[ClipSettings, RenderSettings]:
    """The settings a day was made with, from its manifest (tuples come back from JSON as lists)."""
    s = record["settings"]
    render: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in s["render"].items()}
    return ClipSettings(**s["clips"]), RenderSettings(**render)


def remake(record: dict[str, Any], source: str, cache: Path, workers: int | None = None) -> tuple[bytes, list[str]]:
    """The overview PNG of the day `record` describes, from the files under `source`; and the files
    that could not be read (their windows stay blank). Windows are served as the day run served
    them: the plan's first guess, then the repairs the files' data asks for (`ownership.arbitrate`)."""
    h = get_hydrophone(record["hydrophone"]["node"])
    day = dt.date.fromisoformat(record["date"])
    clip_settings, render_settings = settings(record)
    _, plan = listed_plan(source, h, day, clip_settings)
    missing: list[str] = []
    with ProcessPoolExecutor(workers) as pool:
        def run(units: list[FileUnit]) -> list[FileResult]:
            out = []
            for unit, r in zip(units, pool.map(_columns, [(u, day, h.node, cache, clip_settings, render_settings)
                                                          for u in units]), strict=True):
                if r is None or r.status != FileStatus.OK:
                    missing.append(unit.key)
                out.append(r or failed(unit, Skip.NOT_FETCHED, f"{unit.key}: not available"))
            return out

        results = run(plan.units)
        arbitration = arbitrate(plan, results, clip_settings)
        results = arbitration.apply(results, run(arbitration.repairs))
    columns = {k: c for r in results if r.status == FileStatus.OK for k, c in r.columns.items()}
    png = daymanifest.overview(record, columns, partial=True)
    if png is None:
        raise NothingToDraw(f"{h.node} {day}: no file of the day could be read again from {source}")
    return png, missing


def _columns(job: tuple[FileUnit, dt.date, str, Path, ClipSettings, RenderSettings]) -> FileResult | None:
    unit, day, node, cache, clip_settings, render_settings = job

    def copy(f: RawFile) -> str:
        return str(local_copy(f.url, cache, f.exact_size, f.size_bounds))

    try:
        path, also = copy(unit.file), [copy(f) for f in unit.also]
    except FetchError:
        return None

    def next_path() -> str | None:
        assert unit.next_file is not None
        try:
            return copy(unit.next_file)
        except FetchError:
            return None

    # nothing is rendered (render_only is empty) and nothing stored, so the sink is never written
    return process_file(unit, path, next_path if unit.next_file else None, day, node, LocalSink(cache / "unused"),
                        clip_settings, render_settings, frozenset(), frozenset(), True, also)
