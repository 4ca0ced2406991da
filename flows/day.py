"""The day flow: one hydrophone, one UTC day, from the OOI listing to clips and a day manifest."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.futures import as_completed
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner

from whaledr_core import appmanifest, daymanifest
from whaledr_core.catalog import DEFAULT_HYDROPHONES, DEFAULT_SOURCE, Node, get_hydrophone
from whaledr_core.clips import ClipSettings, FileUnit, Skip
from whaledr_core.fetch import default_cache, is_remote
from whaledr_core.fileclips import FileResult, FileStatus, failed, with_first_pass
from whaledr_core.naming import day_prefix
from whaledr_core.ownership import arbitrate
from whaledr_core.publish import parse_budget, widens
from whaledr_core.render import RenderSettings
from whaledr_core.rerun import choose_day, downloads_to_drop, plan_rerun, stored_clips

from . import tasks
from .app import check_target
from .failures import ExpectedFailure, one_line_failures
from .params import SAFE_SELECTION, STORE_ALL, App, Downloads, Output, Rendering, Selection, titled
from .pool import worker_count, worker_pool
from .progress import DayProgress, Storing
from .worker import local_path


class DayIncomplete(ExpectedFailure):
    """No data for the day, or some windows could not be made; the manifest names them."""


ORIGINS = ("backfill", "daily")
"""Tags of a day run that a backfill or a daily run started; its name carries the tag too, so that two
runs of one day (one asked for by hand, one by a backfill) tell themselves apart in the Runs list."""


def day_run_name() -> str:
    """"LJ01D 2019-01-12", and "LJ01D 2019-01-12 (backfill)" for a run a backfill or daily run started."""
    from prefect.runtime import flow_run

    p = flow_run.parameters
    origin = next((t for t in flow_run.tags if t in ORIGINS), None)
    name = f"{p.get('hydrophone', DEFAULT_HYDROPHONES[0])} {p['day']}"
    return f"{name} ({origin})" if origin else name


@flow(name="whaledr-day", flow_run_name=day_run_name)
@one_line_failures
def day_flow(
    day: Annotated[dt.date, titled("Day (UTC)")],
    hydrophone: Annotated[Node, titled("Hydrophone")] = DEFAULT_HYDROPHONES[0],
    selection: Annotated[Selection, titled("Which clips reach volunteers")] = SAFE_SELECTION,
    source: Annotated[str, titled("Source")] = DEFAULT_SOURCE,
    output: Annotated[Output, titled("Output (folder or S3 bucket)")] = Output(),
    app: Annotated[App, titled("App (which database to tell)")] = App(),
    overwrite: Annotated[bool, titled("Overwrite")] = False,
    rendering: Annotated[Rendering, titled("How clips look and sound")] = Rendering(),
    downloads: Annotated[Downloads, titled("Downloads (cache, how many at once)")] = Downloads(),
    dask_address: Annotated[str, titled("Dask cluster")] = "",
    workers: Annotated[int, titled("Worker processes")] = 0,
) -> State:
    """One UTC day of one hydrophone into clips: list the day, fetch its files (from a URL) a few at a
    time while the process pool turns each file into scored clips, choose the clips to publish within the budget
    (with a top budget the files are scored first and only the chosen clips encoded after), write the
    day manifest and the day overview, add the published IDs to the app manifest and tell the app.
    A rerun does only what is missing, and never withdraws a published clip. The run ends with the
    day's summary as its state message.

    Args:
        day: The UTC day to process, picked in the calendar.
        hydrophone: The broadband hydrophone's node code (docs, "Running a day").
        selection: How many of the day's clips volunteers get (the budget), and which are stored.
        source: Base URL (or local folder) under which {site}/{node}/{instrument}/YYYY/MM/DD/ lies.
        output: Where clips and manifests go: a folder, or a saved S3 block.
        app: Which app database to tell about the new samples.
        overwrite: Render every clip again, even where it is stored.
        rendering: Clip length, spectrogram and WAV settings.
        downloads: Download cache, what to keep, how many files at once.
        dask_address: Process files on this Dask cluster (tcp://host:8786) instead of this machine's
            process pool; each Dask worker then fetches the files it processes. Empty: this machine.
        workers: Worker processes on this machine; 0: one per CPU.
    """
    log = get_run_logger()
    started = time.perf_counter()
    h = get_hydrophone(hydrophone)
    clip_settings, render_settings = rendering.clip_settings(), rendering.render_settings()
    if app.block:  # the keys must resolve where the app looks, before any work
        check_target(app.block, output, render_settings)
    folder, plan = tasks.list_day(source, h.node, day, clip_settings)
    if not plan.files:
        raise DayIncomplete(f"no data files for {h.node} on {day}: {tasks.where(source, h, day, folder)}")
    listed = time.perf_counter()

    sink = output.open()
    previous = daymanifest.read(sink, h.node, day)
    _warn_if_wider(previous, selection, f"{h.node} {day}")
    existing = sink.keys(day_prefix(sink.prefix, h.node, day))
    rerun = plan_rerun(plan, previous, existing, sink.prefix, h.node, clip_settings, render_settings, overwrite)
    log.info("%d files to process, %d finished by an earlier run", len(rerun.todo), len(rerun.reused))
    progress = DayProgress(len(plan.units), f"{h.node} {day}")
    results = [progress.file_done(r) for r in rerun.reused.values()]
    cache = downloads.cache or str(default_cache())
    work = _Work(day, h.node, output, cache, downloads, clip_settings, render_settings, dask_address or None,
                 workers or None)
    first = frozenset[int]() if selection.two_passes else None  # a top budget: score everything, encode nothing
    results += work.run(rerun.todo, dict.fromkeys(rerun.done, first), rerun.done, progress)
    # names only guessed which file serves which window: the files' data now says (ownership.arbitrate)
    arbitration = arbitrate(plan, results, clip_settings)
    if arbitration.repairs:
        log.warning("%d windows served again from the files that hold their data: %s",
                    sum(len(u.windows) for u in arbitration.repairs),
                    "; ".join(u.repair or "" for u in arbitration.repairs))
        done = {} if overwrite else stored_clips(arbitration.repairs, day, existing, sink.prefix, h.node,
                                                  clip_settings, render_settings)
        progress.total += len(arbitration.repairs)
        repaired = work.run(arbitration.repairs, {u.key: first for u in arbitration.repairs},
                            {u.key: done.get(u.key, frozenset()) for u in arbitration.repairs}, progress)
        results = arbitration.apply(results, repaired)
    choice = choose_day(results, selection.budget(), selection.store == STORE_ALL, node=h.node, day=day,
                        previous=previous)
    if choice.render:  # then encode and store the chosen windows, in the units that hold them
        log.info("storing %d chosen clips from %d units", sum(map(len, choice.render.values())), len(choice.render))
        scored = {r.key: r for r in results if r.key in choice.render}
        held = {key: frozenset(sid for sid, _, _ in r.clips) for key, r in scored.items()}
        units = [u for u in [*plan.units, *arbitration.repairs] if u.key in scored]
        second = work.run(units, choice.render, held, progress.storing(len(units)), score_all=False)
        results = [r for r in results if r.key not in scored] + [with_first_pass(r, scored[r.key]) for r in second]
        results = arbitration.apply(results)  # a unit's second pass cuts the windows a repair took again

    timings = {"list": listed - started, "process": time.perf_counter() - listed}
    timings["total"] = time.perf_counter() - started
    record = daymanifest.build(hydrophone=h, day=day, source=source, folder=folder, plan=plan, results=results,
                               clip_settings=clip_settings, render_settings=render_settings, timings=timings,
                               reasons=choice.reasons, budget=selection.publish, store=selection.store,
                               earlier_budgets=daymanifest.budgets(previous))
    progress.finish(record)
    tasks.write_manifest(output, h.node, day, record)
    _report(record)
    _overview(work, output, record, results, [u for u in plan.units if u.key in rerun.reused])
    day_ids = appmanifest.day_ids(record)
    tasks.update_app_manifest(output, day_ids)
    if app.block or app.firebase_block:
        tasks.sync_app(app, day_ids)
    if record["complete"] and not downloads.keep:
        for path in downloads_to_drop(plan, Path(cache)):
            path.unlink(missing_ok=True)
    summary = daymanifest.summary_line(record, timings["total"])
    log.info(summary)
    if not record["complete"]:
        raise DayIncomplete(summary + "; failed: " + ", ".join(record["failed_files"]))
    return Completed(message=summary, data=record["totals"])


def _warn_if_wider(previous: dict | None, selection: Selection, label: str) -> None:
    """A budget wider than every one that published the day before publishes more of it, for good: say so."""
    earlier = daymanifest.budgets(previous)
    if previous and earlier and all(widens(parse_budget(b), selection.budget()) for b in earlier):
        get_run_logger().warning(
            "%s: the budget %s widens what volunteers were given: the day was published with %s (%d clips); "
            "published clips are never withdrawn", label, selection.publish, " then ".join(earlier),
            previous["totals"].get("published", len(previous.get("clips", []))))


def _overview(work: _Work, output: Output, record: dict, results: list[FileResult], reused: list[FileUnit]) -> None:
    """The day overview, drawn again whenever the day's published set or data changed. A run that read
    every file has every column; one that read none redraws over the stored picture; one that read some
    reads the others again for their columns (nothing encoded), so that the picture matches the manifest."""
    columns = {k: c for r in results for k, c in r.columns.items()}
    node, day = record["hydrophone"]["node"], dt.date.fromisoformat(record["date"])
    if tasks.write_overview(output, node, day, record, columns) or not reused:
        return
    get_run_logger().info("reading %d files an earlier run finished again, for the overview's columns", len(reused))
    keys = [u.key for u in reused]
    again = work.run(reused, dict.fromkeys(keys, frozenset()), dict.fromkeys(keys, frozenset()), None)
    columns = {**{k: c for r in again for k, c in r.columns.items()}, **columns}  # a repair's own columns stay
    tasks.write_overview(output, node, day, record, columns)


@dataclass(frozen=True)
class _Work:
    """How files are processed: here on worker processes, or on Dask. A file from a URL is fetched a
    few at a time by its own download task; a folder's file is read where it lies.

    Each file is a Prefect task run in a thread here, two per worker so that the next file waits
    ready; the thread hands the file to a worker process (`flows.pool`)."""

    day: dt.date
    node: str
    output: Output
    cache: str
    downloads: Downloads
    clip_settings: ClipSettings
    render_settings: RenderSettings
    dask_address: str | None
    workers: int | None

    def run(self, units: list[FileUnit], render_only: Mapping[str, frozenset[int] | None],
            done: Mapping[str, frozenset[str]], progress: DayProgress | Storing | None,
            score_all: bool = True) -> list[FileResult]:
        results = []
        fetcher: ThreadPoolTaskRunner[Any]
        processors: ThreadPoolTaskRunner[Any]
        local = self.dask_address is None
        threads = 2 * worker_count(self.workers)
        with ThreadPoolTaskRunner(max_workers=self.downloads.concurrency) as fetcher, \
                worker_pool(self.workers) if local else nullcontext(), \
                ThreadPoolTaskRunner(max_workers=threads) as processors, _processing(self.dask_address) as dask:
            work: dict[Any, tuple[FileUnit, Any]] = {}
            for u in units:
                args: dict[str, Any] = dict(unit=u, day=self.day, node=self.node, output=self.output, cache=self.cache,
                                            clip_settings=self.clip_settings, render_settings=self.render_settings,
                                            done=done[u.key], render_only=render_only[u.key],
                                            score_all=score_all)
                if dask is None and not is_remote(u.file.url):  # a folder's file is read where it lies
                    args["path"] = local_path(u.file, self.cache)
                    work[processors.submit(tasks.process, args)] = (u, None)  # type: ignore[arg-type]
                elif dask is None:  # fetch here, a few at a time, while the pool decodes what has arrived
                    args["path"] = fetcher.submit(tasks.download,  # type: ignore[arg-type]  # Prefect's overloads
                                                  {"file": u.file, "cache": self.cache})
                    work[processors.submit(tasks.process, args)] = (u, args["path"])  # type: ignore[arg-type]
                else:  # a Dask worker may be another machine: it fetches the file itself, into its own cache
                    args.update(path=None, cache=self.downloads.cache, drop=not self.downloads.keep)
                    work[dask.submit(tasks.process, args)] = (u, None)
            for fut in as_completed(list(work)):
                r = _file_result(fut, *work[fut])
                results.append(progress.file_done(r) if progress else r)
        return results


def _processing(dask_address: str | None):
    """A Dask cluster's task runner when an address is given; else none (the flow's process pool)."""
    if not dask_address:
        return nullcontext(None)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=dask_address)


def _file_result(processed, unit: FileUnit, downloaded) -> FileResult:
    """What a file's tasks came to (its download, when it had one, and its processing); a failure
    becomes a record with every owned window skipped."""
    try:
        outcome = processed.result(raise_on_failure=False)
    except Exception as e:  # a process-pool future whose input (the download) failed raises
        outcome = e
    if isinstance(outcome, FileResult):
        if outcome.status != FileStatus.OK:
            get_run_logger().warning("%s", outcome.error)
        return outcome
    if downloaded is not None and downloaded.state.is_failed():
        result = failed(unit, Skip.NOT_FETCHED, f"{unit.file.name}: {_error(downloaded)}")
    else:
        result = failed(unit, Skip.ERROR, f"{unit.file.name}: {outcome}")
    get_run_logger().warning("%s", result.error)
    return result


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
            "published": t["published"],
            "MB": round((t["png_bytes"] + t["wav_bytes"]) / 1e6, 1), "seconds": record["timings"]["total"],
        }],
        description=daymanifest.summary_line(record),
    )
