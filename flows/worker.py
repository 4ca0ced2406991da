"""What a worker process runs for one file. No Prefect here: the worker imports only the core (and,
for an S3 output, the block that opens it, once per process)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from whaledr_core import fetch
from whaledr_core.clips import ClipSettings, FileUnit, Skip
from whaledr_core.fileclips import FileResult, FileStatus, failed, process_file
from whaledr_core.listing import RawFile
from whaledr_core.render import RenderSettings

from .params import Output


def local_path(file: RawFile, cache: str) -> str:
    """A local path for the file: the file itself for a folder source, else a cached download."""
    return str(fetch.local_copy(file.url, Path(cache), file.exact_size, file.size_bounds))


def process_here(
    unit: FileUnit,
    path: str | None,
    day: dt.date,
    node: str,
    output: Output,
    cache: str | None,
    clip_settings: ClipSettings,
    render_settings: RenderSettings,
    done: frozenset[str],
    drop: bool = False,
    render_only: frozenset[int] | None = None,
    score_all: bool = True,
) -> FileResult:
    """Without `path` (on a Dask worker) the file is fetched here first, into this machine's cache,
    and with `drop` the downloads are deleted once the file is done. A repair's other files are
    fetched here too (the day's first pass left them in the cache). With `render_only`, only those
    windows are encoded and stored (the others are scored only, or with `score_all` False not at all:
    a second pass)."""
    nxt = unit.next_file
    cache = cache or str(fetch.default_cache())
    used: list[str] = []
    notes: list[str] = []
    if path is None:
        try:
            path = local_path(unit.file, cache)
        except fetch.FetchError as e:
            return failed(unit, Skip.NOT_FETCHED, f"{unit.file.name}: {type(e).__name__}: {e}")
        used.append(path)

    also: list[str] = []
    for f in unit.also:  # a repair's other files: fetched by the first pass, so normally in the cache
        try:
            also.append(local_path(f, cache))
        except fetch.FetchError as e:
            return failed(unit, Skip.NOT_FETCHED, f"{f.name}: {type(e).__name__}: {e}")
        used.append(also[-1])

    def next_path() -> str | None:
        """Only for a window that straddles into the next file; its download may be under way."""
        assert nxt is not None
        try:
            used.append(local_path(nxt, cache))
            return used[-1]
        except fetch.FetchError as e:
            notes.append(f"next file {nxt.name} not available: {e}")
            return None

    result = process_file(unit, path, next_path if nxt else None, day, node, output.open(), clip_settings,
                          render_settings, done, render_only, score_all, also)
    result.notes += notes
    if drop and result.status == FileStatus.OK and fetch.is_remote(unit.file.url):  # never a folder source's own files
        for p in used:
            Path(p).unlink(missing_ok=True)
    return result
