"""Prefect tasks: each wraps one whaledr_core call and adds retries, names and logging."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from whaledr_core import clips, fetch, listing, manifest
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, DayPlan, FileUnit
from whaledr_core.listing import RawFile
from whaledr_core.naming import day_manifest_key
from whaledr_core.process import FileResult, process_file
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import open_sink


@task(name="list-day", retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE)
def list_day(source: str, hydrophone: str, day: dt.date, cs: ClipSettings) -> tuple[str | None, DayPlan]:
    """The day's files and who owns which window; the day before is asked only when it may spill over."""
    h = get_hydrophone(hydrophone)
    folder, files = listing.list_day(source, h, day)
    previous = None
    first = clips.day_index(files[0].start, day, cs.sample_rate) if files else None
    if first is None or first > cs.tolerance_samples:
        before = listing.list_day(source, h, day - dt.timedelta(days=1))[1]
        previous = before[-1] if before else None
    plan = clips.plan_day(day, files, cs, previous)
    get_run_logger().info(
        "%s %s: %d files listed in %s, %d units of work", h.node, day, len(files), folder, len(plan.units)
    )
    return folder, plan


@task(name="download", task_run_name="download {file.name}", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=lambda task, run, state: not _is_permanent(state), cache_policy=NO_CACHE)
def download(file: RawFile, cache: str) -> str:
    return _local_path(file, cache)


def _local_path(file: RawFile, cache: str) -> str:
    """A local path for the file: the file itself for a folder source, else a cached download."""
    return str(fetch.local_copy(file.url, Path(cache), file.exact_size))


def _is_permanent(state) -> bool:
    """A 404 or a size mismatch will not mend by trying again in a minute."""
    try:
        state.result()
    except fetch.PermanentFetchError:
        return True
    except Exception:
        return False
    return False


@task(name="process-file", task_run_name="process {unit.file.name}", retries=1, retry_delay_seconds=5,
      cache_policy=NO_CACHE)
def process(
    unit: FileUnit,
    path: str,
    day: dt.date,
    node: str,
    out: str,
    prefix: str,
    cache: str,
    cs: ClipSettings,
    rs: RenderSettings,
    overwrite: bool,
) -> FileResult:
    nxt = unit.next_file

    def next_path() -> str | None:
        """Only for a window that straddles into the next file; its download may be under way."""
        try:
            return _local_path(nxt, cache)
        except fetch.FetchError as e:
            get_run_logger().warning("next file %s not available: %s", nxt.name, e)
            return None

    return process_file(unit, path, next_path if nxt else None, day, node, open_sink(out, prefix), cs, rs, overwrite)


@task(name="write-day-manifest", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def write_manifest(out: str, prefix: str, node: str, day: dt.date, record: dict) -> str:
    """Written last: its presence says the day's run finished, and what it left undone."""
    key = day_manifest_key(prefix, node, day)
    open_sink(out, prefix).put(key, manifest.dumps(record), "application/json")
    return key
