"""Prefect tasks: each wraps one whaledr_core call and adds retries, names and logging."""

from __future__ import annotations

import base64
import datetime as dt
from functools import partial
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from whaledr_core import appmanifest, appsync, daymanifest, fetch
from whaledr_core.catalog import Hydrophone, get_hydrophone
from whaledr_core.clips import ClipSettings, DayPlan, FileUnit, Skip
from whaledr_core.dayplan import listed_plan
from whaledr_core.fileclips import FileResult, failed
from whaledr_core.listing import RawFile
from whaledr_core.naming import day_manifest_key
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import S3Sink

from .app import app_database
from .limits import download_slot
from .params import App, Output
from .pool import run_on_workers
from .targets import BlockMissing
from .worker import process_here


def _unless(*errors: type[Exception]):
    """A retry condition: try again unless the run ended with one of `errors`, which will not mend
    in a minute (a 404, a size mismatch, a refused credential)."""

    def condition(task, run, state) -> bool:
        try:
            state.result()
        except errors:
            return False
        except Exception:
            return True
        return True

    return condition


@task(name="list-day", retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE)
def list_day(source: str, hydrophone: str, day: dt.date, clip_settings: ClipSettings) -> tuple[str | None, DayPlan]:
    """The day's files and who owns which window; the day before is asked only when it may spill over."""
    h = get_hydrophone(hydrophone)
    folder, plan = listed_plan(source, h, day, clip_settings)
    get_run_logger().info("%s %s: %d files, %d units of work; %s", h.node, day, len(plan.files), len(plan.units),
                          where(source, h, day, folder))
    return folder, plan


def where(source: str, h: Hydrophone, day: dt.date, folder: str | None) -> str:
    """Where the day's files were looked for: the folder found, or every folder form tried."""
    if folder:
        return f"listed {folder}"
    return "no day folder at " + " or ".join(f"{source.rstrip('/')}/{path}" for path in h.day_paths(day))


@task(name="download", task_run_name="download {file.name}", retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=_unless(fetch.PermanentFetchError), cache_policy=NO_CACHE)
def download(file: RawFile, cache: str) -> str:
    return fetched(file, cache)


def fetched(file: RawFile, cache: str) -> str:
    """A local path for the file; a transfer from the server holds a slot of the `ooi-downloads` limit,
    which bounds the downloads of every day run on every worker (`flows.limits`). A file found in the
    cache, or fetched meanwhile by another task (whose lock is waited for first), takes no slot."""
    gate = partial(download_slot, get_run_logger())
    return str(fetch.local_copy(file.url, Path(cache), file.exact_size, file.size_bounds, gate=gate))


@task(name="process-file", task_run_name="process {unit.file.name}", retries=1, retry_delay_seconds=5,
      cache_policy=NO_CACHE)
def process(
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
    """The file's clips, made on the day's worker processes (`flows.pool`), or here on a Dask worker;
    see `worker.process_here` for the arguments."""
    if path is None or unit.next_file is not None or unit.also:  # what the worker would download, fetched here
        failure = _fetch_ahead(unit, path is None, cache or str(fetch.default_cache()))
        if failure is not None:
            return failure
    result = run_on_workers(partial(process_here, unit, path, day, node, output, cache, clip_settings,
                                    render_settings, done, drop, render_only, score_all))
    if result.next_missing:
        get_run_logger().warning("%s: the next file was not available for the window that runs into it: %s",
                                 unit.file.name, "; ".join(n for n in result.notes if n.startswith("next file"))
                                 or "no path")
    return result


def _fetch_ahead(unit: FileUnit, own: bool, cache: str) -> FileResult | None:
    """The worker processes import no Prefect, so they cannot hold a slot of the download limit: the
    file a Dask worker processes (`own`), and the next file a window runs into (usually fetched by its
    own download task already), are fetched here under the limit first and found in the cache there.
    A next file that cannot be fetched is the worker's to note, as before. A repair's other files
    (`FileUnit.also`, normally in the cache from the day's first pass) are needed as much as its own."""
    for f in (unit.file, *unit.also) if own else unit.also:
        try:
            fetched(f, cache)
        except fetch.FetchError as e:
            return failed(unit, Skip.NOT_FETCHED, f"{f.name}: {type(e).__name__}: {e}")
    if unit.next_file is not None:
        try:
            fetched(unit.next_file, cache)
        except fetch.FetchError as e:
            get_run_logger().info("next file %s not fetched ahead: %s", unit.next_file.name, e)
    return None


@task(name="write-day-manifest", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def write_manifest(output: Output, node: str, day: dt.date, record: dict) -> str:
    """Written after every clip it lists was stored: its presence says the day's run finished."""
    sink = output.open()
    key = day_manifest_key(sink.prefix, node, day)
    sink.put(key, daymanifest.dumps(record), "application/json")
    return key


@task(name="write-overview", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def write_overview(output: Output, node: str, day: dt.date, record: dict, columns: dict) -> str | None:
    """The day overview beside the day manifest, drawn from `columns` or over the stored picture
    (`daymanifest.overview`), and a markdown artifact on the run's page showing it inline: the picture
    itself (a `data:` URL) from a folder, the object's URL from a bucket (seen when the bucket, or the
    viewer's browser, may read it). None when the columns are not enough to draw it: the caller reads
    the other files again. A picture that came out the same is not written again."""
    log = get_run_logger()
    sink = output.open()
    key = daymanifest.overview_key(sink.prefix, node, day)
    stored = sink.get(key)
    png = daymanifest.overview(record, columns, stored=stored)
    if png is None:
        log.info("overview: %d of %d windows with data have their columns here", len(columns),
                 len(record.get("scores", {})))
        return None
    if png != stored:
        sink.put(key, png, "image/png")
    if isinstance(sink, S3Sink):
        url = f"{sink.client.meta.endpoint_url.rstrip('/')}/{sink.bucket}/{key}"
        where = f"![{node} {day}]({url})\n\n{url}"
    else:
        where = (f"![{node} {day}](data:image/png;base64,{base64.b64encode(png).decode()})\n\n"
                 f"`{Path(output.folder).resolve() / key}`")
    t = record["totals"]
    create_markdown_artifact(
        key=f"whaledr-overview-{node}-{day}".lower(),
        markdown=f"### {node} {day}: the day at a glance\n\n{where}\n\n"
                 f"{t['published']} clips published ({record['publish']['budget']}), {t['clips']} stored, "
                 f"{len(record.get('scores', {}))} windows scored: the score strip above, a red tick at each "
                 "published clip, blank where there is no data.",
        description=f"{node} {day} overview: {t['published']} published")
    log.info("overview: %s%s", key, "" if png != stored else " (unchanged)")
    return key


@task(name="update-app-manifest", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def update_app_manifest(output: Output, ids: list[str]) -> appmanifest.ManifestUpdate:
    """Merge the day's stored IDs into the app's whole list, safe against other runs doing the same."""
    update = appmanifest.merge(output.open(), ids)
    get_run_logger().info("%s: %d IDs, %d new (attempt %d)", update.key, update.total, update.added, update.attempts)
    return update


@task(name="rebuild-app-manifest", retries=2, retry_delay_seconds=[5, 30], cache_policy=NO_CACHE)
def rebuild_app_manifest(output: Output, prune_legacy: bool = False) -> list[str]:
    """The app's list made again from every day manifest, keeping older samples unless `prune_legacy`;
    returns the IDs it now holds."""
    sink = output.open()
    update = appmanifest.rebuild(sink, prune_legacy)
    get_run_logger().info("%s rebuilt: %d IDs (%d not listed before, %d older samples kept)",
                          update.key, update.total, update.added, update.kept)
    return appmanifest.parse(sink.get(update.key))


@task(name="sync-app-database", retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE,
      retry_condition_fn=_unless(appsync.AuthError, BlockMissing))
def sync_app(app: App, ids: list[str]) -> appsync.SyncReport:
    """The IDs the app's database lacks, added in its schema (`/sampleCounts/{id}` = 0, or
    `/samples/{id}`); runs after the manifest lists them, and never touches volunteers' data."""
    database, schema = app_database(app)
    report = appsync.sync_counts(database, ids, schema=schema)
    get_run_logger().info("app database (/%s): %d sample IDs added, %d already there",
                          schema, report.added, report.already)
    return report

