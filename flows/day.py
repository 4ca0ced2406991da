"""The day flow: one hydrophone, one UTC day, from the OOI listing to clips and a day manifest."""

from __future__ import annotations

import datetime as dt
import queue
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.futures import PrefectFuture
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import unmapped

from whaledr_core import appmanifest, daymanifest
from whaledr_core.catalog import DEFAULT_HYDROPHONES, DEFAULT_SOURCE, Node, get_hydrophone
from whaledr_core.clips import ClipSettings, FileUnit, Skip
from whaledr_core.fetch import default_cache, is_remote
from whaledr_core.fileclips import FileResult, FileStatus, failed, with_first_pass, with_upload
from whaledr_core.naming import day_prefix
from whaledr_core.ownership import arbitrate
from whaledr_core.publish import parse_budget, widens
from whaledr_core.render import RenderSettings
from whaledr_core.rerun import choose_day, downloads_to_drop, plan_rerun, stored_clips
from whaledr_core.upload import (
    Staged,
    Staging,
    Uploaded,
    day_run_folder,
    discard,
    end_day_run,
    not_arrived,
    staging_root,
)

from . import tasks
from .app import check_target
from .failures import ExpectedFailure, one_line_failures
from .params import SAFE_SELECTION, STORE_ALL, App, Downloads, Output, Rendering, Selection, titled
from .pool import worker_count, worker_pool
from .progress import DayProgress, Storing
from .runners import DEFAULT_TASK_RUNNER, PREFECT, TaskRunnerName, mark_crashed, prefect_pool
from .targets import UPLOADS
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
    task_runner: Annotated[TaskRunnerName, titled("Task runner")] = DEFAULT_TASK_RUNNER,
) -> State:
    """One UTC day of one hydrophone into clips: list the day, fetch its files (from a URL) a few at a
    time while the processing, mapped over the files on a process pool, turns each file into scored clips
    and each file's upload task moves them into the output; choose the clips to publish within the budget
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
        task_runner: How files reach the worker processes: 'lean' (Prefect task runs in threads hand
            each file to workers that import no Prefect: less core time and memory) or 'prefect'
            (Prefect's ProcessPoolTaskRunner: each file's task runs in a worker); docs, "The two task runners".
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
                 workers or None, task_runner, sink.prefix)
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
    """How a pass over some of the day's units runs: each unit's file downloaded (from a URL) a few
    at a time, its processing mapped over the units on a process-pool task runner (`task_runner`,
    `flows.runners`), and what it staged uploaded by its own task; or every unit on Dask."""

    day: dt.date
    node: str
    output: Output
    cache: str
    downloads: Downloads
    clip_settings: ClipSettings
    render_settings: RenderSettings
    dask_address: str | None
    workers: int | None
    task_runner: TaskRunnerName
    prefix: str
    """The output's key prefix: what the staged clips' keys begin with."""

    def run(self, units: list[FileUnit], render_only: Mapping[str, frozenset[int] | None],
            done: Mapping[str, frozenset[str]], progress: DayProgress | Storing | None,
            score_all: bool = True) -> list[FileResult]:
        """Each unit's file downloaded (a URL's, a few at a time), processed by a worker process into a
        staging folder, its clips uploaded by the unit's own task; the results as the units end."""
        if not units:
            return []
        if self.dask_address:
            return self._on_dask(units, render_only, done, progress, score_all)
        staging = day_run_folder(staging_root(None if self.output.s3_block else self.output.folder, self.cache),
                                 self.node, self.day)
        downloading: ThreadPoolTaskRunner[Any]
        uploading: ThreadPoolTaskRunner[Any]
        processing: ThreadPoolTaskRunner[Any]
        try:
            with ThreadPoolTaskRunner(max_workers=self.downloads.concurrency) as downloading, \
                    ThreadPoolTaskRunner(max_workers=UPLOADS) as uploading:
                files = _Files(progress, uploading, self.output)
                for i, u in enumerate(units):  # a folder's file is read where it lies
                    files.path[u.key] = local_path(u.file, self.cache) if not is_remote(u.file.url) else \
                        downloading.submit(tasks.download, {"file": u.file, "cache": self.cache})  # type: ignore[arg-type]
                    files.stage[u.key] = Staging(str(staging / str(i)), self.prefix)

                def per_file(todo: list[FileUnit]) -> dict[str, Any]:
                    """The processing's parameters, mapped over the units: each unit's own, and the same for all."""
                    return {"unit": todo, "path": [files.path[u.key] for u in todo],
                            "done": [done[u.key] for u in todo], "render_only": [render_only[u.key] for u in todo],
                            "stage": [files.stage[u.key] for u in todo],
                            **{k: unmapped(v) for k, v in dict(
                                day=self.day, node=self.node, output=self.output, cache=self.cache,
                                clip_settings=self.clip_settings, render_settings=self.render_settings,
                                score_all=score_all).items()}}

                if self.task_runner == PREFECT:
                    _on_prefect_pool(self.workers, units, per_file, files)
                else:  # two task threads per worker process, so that the next file waits ready
                    with worker_pool(self.workers), \
                            ThreadPoolTaskRunner(max_workers=2 * worker_count(self.workers)) as processing:
                        files.wait(units, processing.map(tasks.process, per_file(units)))  # type: ignore[arg-type]
                return files.results
        finally:
            end_day_run(staging)

    def _on_dask(self, units: list[FileUnit], render_only: Mapping[str, frozenset[int] | None],
                 done: Mapping[str, frozenset[str]], progress: DayProgress | Storing | None,
                 score_all: bool) -> list[FileResult]:
        """A Dask worker may be another machine: it fetches its files itself, into its own cache, and
        writes the clips to the output itself (no staging folder the flow could see)."""
        from prefect_dask import DaskTaskRunner

        results = []
        with DaskTaskRunner(address=self.dask_address) as dask:
            futures = dask.map(tasks.process, {
                "unit": units, "done": [done[u.key] for u in units], "render_only": [render_only[u.key] for u in units],
                **{k: unmapped(v) for k, v in dict(
                    path=None, day=self.day, node=self.node, output=self.output, cache=self.downloads.cache,
                    clip_settings=self.clip_settings, render_settings=self.render_settings,
                    drop=not self.downloads.keep, score_all=score_all).items()}})
            for fut, u in zip(futures, units, strict=True):
                r = _file_result(_outcome(fut), u, None)
                results.append(progress.file_done(r) if progress else r)
        return results


class _Files:
    """The units of a pass as their tasks end. A processed unit that staged clips gets its upload
    task; a unit is done (its result kept, the progress told) once nothing of it is left to run.
    Each future reports to a queue as it ends and is handled then, in the flow's thread."""

    def __init__(self, progress: DayProgress | Storing | None, uploading: ThreadPoolTaskRunner, output: Output) -> None:
        self.path: dict[str, Any] = {}
        """Each unit's local path, or its download task's future."""
        self.stage: dict[str, Staging] = {}
        self.progress, self.uploading, self.output = progress, uploading, output
        self.results: list[FileResult] = []
        self.broken: list[FileUnit] | None = None
        """While set: the units whose worker process died under them on Prefect's pool, to run again."""
        self._ended: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._waiting: dict[int, Callable[[], None]] = {}

    def wait(self, units: list[FileUnit], processing: Iterable[Any]) -> None:
        """Until every unit these processing futures run (one each, in order) is done, or broken."""
        for u, fut in zip(units, processing, strict=True):
            self._watch(fut, partial(self._processed, u, fut))
        while self._waiting:
            self._waiting.pop(id(self._ended.get()))()

    def _watch(self, future: Any, then: Callable[[], None]) -> None:
        self._waiting[id(future)] = then
        future.add_done_callback(self._ended.put)

    def _processed(self, unit: FileUnit, fut: Any) -> None:
        outcome = _outcome(fut)
        if isinstance(outcome, BrokenProcessPool):  # Prefect's pool: its task run stays Running unless told
            again = self.broken is not None
            mark_crashed(fut, f"its worker process died ({outcome})" + ("; the file runs again" if again else ""))
            if again:
                self.broken.append(unit)  # type: ignore[union-attr]
                return
        downloaded = self.path[unit.key]
        r = _file_result(outcome, unit, downloaded if isinstance(downloaded, PrefectFuture) else None)
        if not r.objects:  # nothing staged: the clips were there already, or it made none
            self._done(r)
            return
        staged = Staged(unit.key, self.stage[unit.key].folder, tuple(r.objects), r.present)
        up = self.uploading.submit(tasks.upload, {"staged": staged, "output": self.output},
                                   wait_for=[fut])
        self._watch(up, partial(self._uploaded, r, staged, up))

    def _uploaded(self, r: FileResult, staged: Staged, fut: Any) -> None:
        outcome = _outcome(fut)
        if isinstance(outcome, Uploaded):
            r = with_upload(r, outcome.failed, outcome.seconds)
        else:  # failed for good: the clips whose objects are still staged never reached the output
            error = f"{type(outcome).__name__}: {outcome}"
            r = with_upload(r, dict.fromkeys(not_arrived(staged), error))
            discard(staged.folder)
            get_run_logger().warning("%s", r.error)
        self._done(r)

    def _done(self, r: FileResult) -> None:
        self.results.append(self.progress.file_done(r) if self.progress else r)


def _on_prefect_pool(workers: int | None, units: list[FileUnit], mapped: Callable[[list[FileUnit]], dict[str, Any]],
                     files: _Files) -> None:
    """The units mapped over Prefect's process pool. A worker that dies breaks the whole pool (Python's
    ProcessPoolExecutor) and every file on it fails with BrokenProcessPool: those run again, once,
    on a new pool. A file whose worker dies twice (out of memory, say) fails as any failed file does."""
    files.broken = []
    with prefect_pool(workers) as processing:
        files.wait(units, processing.map(tasks.process, mapped(units)))
    again, files.broken = files.broken, None
    if again:
        get_run_logger().warning("a worker process died: %d files run again on a new pool", len(again))
        with prefect_pool(workers) as processing:
            files.wait(again, processing.map(tasks.process, mapped(again)))


def _outcome(future: Any) -> Any:
    """A future's result, or the exception it ended with (a process-pool future whose input, the
    download, failed raises, as does one whose worker process died)."""
    try:
        return future.result(raise_on_failure=False)
    except Exception as e:
        return e


def _file_result(outcome: Any, unit: FileUnit, downloaded) -> FileResult:
    """What a file's processing came to (`_outcome`), or its download's failure when it had one;
    a failure becomes a record with every owned window skipped."""
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
