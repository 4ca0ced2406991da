"""The day flow: one hydrophone, one UTC day, from the OOI listing to clips and a day manifest."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import nullcontext
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.futures import as_completed
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

from whaledr_core import appmanifest, manifest
from whaledr_core.catalog import DEFAULT_SOURCE, get_hydrophone
from whaledr_core.clips import ERROR, NOT_FETCHED, ClipSettings, DayPlan, FileUnit
from whaledr_core.fetch import cache_path, default_cache, is_remote
from whaledr_core.naming import day_manifest_key, day_prefix
from whaledr_core.process import FileResult, clip_ids, failed, stored_ids
from whaledr_core.render import RenderSettings, wav_size
from whaledr_core.sinks import DEFAULT_UPLOAD_CONCURRENCY

from . import tasks
from .app import check_target, sync_database
from .progress import DayProgress
from .targets import Target


class DayIncomplete(RuntimeError):
    """The day ran to the end, but some windows could not be made; the manifest names them."""


@flow(name="whaledr-day", flow_run_name="{hydrophone} {day}", task_runner=ProcessPoolTaskRunner())
def day_flow(
    day: dt.date,
    hydrophone: str = "LJ01D",
    source: str = DEFAULT_SOURCE,
    out: str = "whaledr-out",
    prefix: str = "",
    s3_block: str | None = None,
    firebase_block: str | None = None,
    clip_seconds: int = 5,
    render: RenderSettings = RenderSettings(),
    overwrite: bool = False,
    cache: str | None = None,
    keep_downloads: bool = False,
    download_concurrency: int = 4,
    upload_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    public_read: bool = False,
    cache_control: str | None = None,
    dask_address: str | None = None,
    app_block: str | None = None,
) -> dict:
    """List the day, fetch its files (a few at a time, in threads) while the process pool turns each
    file into clips, write the day manifest, add the day's IDs to the app manifest and, with a
    Firebase block, tell the app's database; a rerun redoes only what is missing.

    Output goes to the S3 bucket of `s3_block` when named, else to the folder `out`. With
    `dask_address` (tcp://host:8786), files are processed on that Dask cluster instead of this
    machine's process pool; each Dask worker then fetches the files it processes. With `app_block`
    (a saved whaledr App block), the keys are first checked against the app's templates and the new
    IDs go to the app's database in its schema."""
    log = get_run_logger()
    started = time.perf_counter()
    h, cs = get_hydrophone(hydrophone), ClipSettings(clip_seconds=clip_seconds)
    if app_block:
        if firebase_block:
            raise ValueError("give an app block or a Firebase block, not both: the app block holds the database")
        check_target(app_block, Target(out, prefix, s3_block), render)
    worker_cache, cache = cache, cache or str(default_cache())  # a Dask worker uses its own default
    folder, plan = tasks.list_day(source, h.node, day, cs)
    if not plan.files:
        raise DayIncomplete(f"no data files for {h.node} on {day} under {source}")
    listed = time.perf_counter()

    target = Target(out, prefix, s3_block, upload_concurrency, public_read, cache_control)
    sink = target.open()
    previous = manifest.loads(sink.get(day_manifest_key(sink.prefix, h.node, day)))
    ids = {u.file.name: frozenset(clip_ids(u, day, h.node, cs).values()) for u in plan.units}
    existing = {} if overwrite else sink.keys(day_prefix(sink.prefix, h.node, day))
    stored = stored_ids(existing, sink.prefix, set().union(*ids.values()),
                        wav_size(render, cs.window, cs.sample_rate), render.image.extension)
    reused = {} if overwrite else manifest.reusable(previous, plan, cs, render, stored)
    todo = [u for u in plan.units if u.file.name not in reused]
    log.info("%d files to process, %d finished by an earlier run", len(todo), len(reused))

    progress = DayProgress(len(plan.units), f"{h.node} {day}")
    results: list[FileResult] = []
    for r in reused.values():
        results.append(r)
        progress.file_done(r)
    with ThreadPoolTaskRunner(max_workers=download_concurrency) as downloads, _processing(dask_address) as dask:
        work = {}
        for u in todo:
            args = dict(unit=u, day=day, node=h.node, target=target, cache=cache, cs=cs, rs=render,
                        done=ids[u.file.name] & stored)
            if dask is None:  # fetch here, a few at a time, while the pool decodes what has arrived
                args["path"] = downloads.submit(tasks.download, {"file": u.file, "cache": cache})
                work[tasks.process.submit(**args)] = (u, args["path"])
            else:  # a Dask worker may be another machine: it fetches the file itself
                args.update(path=None, cache=worker_cache, drop=not keep_downloads)
                work[dask.submit(tasks.process, args)] = (u, None)
        for fut in as_completed(list(work)):
            result = _file_result(fut, *work[fut])
            if result.status != "ok":
                log.warning("%s", result.error)
            results.append(result)
            progress.file_done(result)
    progress.finish()

    timings = {"list": listed - started, "process": time.perf_counter() - listed}
    timings["total"] = time.perf_counter() - started
    record = manifest.build(hydrophone=h, day=day, source=source, folder=folder, plan=plan,
                            results=results, cs=cs, rs=render, timings=timings)
    tasks.write_manifest(target, h.node, day, record)
    _report(record)
    day_ids = appmanifest.day_ids(record)
    tasks.update_app_manifest(target, day_ids)
    if firebase_block:
        tasks.sync_app(firebase_block, day_ids)
    if app_block:
        sync_database(app_block, day_ids)
    if record["complete"] and not keep_downloads:
        _drop_downloads(cache, plan)
    summary = manifest.summary_line(record, timings["total"])
    log.info(summary)
    if not record["complete"]:
        raise DayIncomplete(summary + "; failed: " + ", ".join(record["failed_files"]))
    return record["totals"]


def _processing(dask_address: str | None):
    """A Dask cluster's task runner when an address is given; else none (the flow's process pool)."""
    if not dask_address:
        return nullcontext(None)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=dask_address)


def _file_result(processed, unit: FileUnit, downloaded) -> FileResult:
    """What a file's two tasks came to; a failure becomes a record with every owned window skipped."""
    try:
        outcome = processed.result(raise_on_failure=False)
    except Exception as e:  # a process-pool future whose input (the download) failed raises
        outcome = e
    if isinstance(outcome, FileResult):
        return outcome
    if downloaded is not None and downloaded.state.is_failed():
        return failed(unit, NOT_FETCHED, f"{unit.file.name}: {_error(downloaded)}")
    return failed(unit, ERROR, f"{unit.file.name}: {outcome}")


def _error(future) -> str:
    """The exception a failed task ended with, in one line."""
    try:
        future.result()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return str(future.state.message)


def _report(record: dict) -> None:
    t = record["totals"]
    create_table_artifact(
        key=f"whaledr-day-{record['hydrophone']['node']}-{record['date']}".lower(),
        table=[{
            "hydrophone": record["hydrophone"]["node"], "date": record["date"],
            "files": t["files_listed"], "failed": t["files_failed"], "clips": t["clips"],
            "written": t["clips_written"], "present": t["clips_present"], "skipped": t["skipped_windows"],
            "MB": round((t["png_bytes"] + t["wav_bytes"]) / 1e6, 1), "seconds": record["timings"]["total"],
        }],
        description=manifest.summary_line(record),
    )


def _drop_downloads(cache: str, plan: DayPlan) -> None:
    """A finished day's downloads are not needed again: its rerun reuses the manifest."""
    for unit in plan.units:
        for f in (unit.file, unit.next_file):
            if f is not None and is_remote(f.url):
                cache_path(Path(cache), f.url).unlink(missing_ok=True)
