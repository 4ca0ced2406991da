"""Many days: the daily schedule and backfills. Each (day, hydrophone) is one run of the day flow.

With a deployment named, each day is its own flow run of that deployment (`run_deployment`), so days
spread over every worker polling the pool and each can be retried alone from the UI; an idempotency
key per day makes asking twice (a second backfill, a retried backfill) reuse the run that exists.
Without one (local mode), days run one after another as subflows in this process, each using the
whole machine.

What an operator sees (docs, "What the UI tells"): each (day, hydrophone) is a task run on the
run's timeline that ends in its day's state, a failed day a red bar with its reason, a day without
files too (no day run is started for it); the run ends with its days complete, failed and without
data as its state message, and a table of the days that links each day's run.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.states import Cancelled, Completed, Failed, Scheduled, State
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel

from whaledr_core import availability, daymanifest
from whaledr_core.catalog import DEFAULT_HYDROPHONES, DEFAULT_SOURCE, Node, get_hydrophone
from whaledr_core.days import (
    DEFAULT_LAG_DAYS,
    MAX_DAYS_WITHOUT_CONFIRMATION,
    day_range,
    day_run_key,
    lagged_day,
)

from . import tasks
from .day import day_flow
from .failures import ExpectedFailure, one_line_failures
from .params import SAFE_SELECTION, App, Downloads, Output, Rendering, Selection, titled

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

DAY_DEPLOYMENT = "whaledr-day/day"
"""The day flow's deployment in prefect.yaml, which scheduled and backfill runs fan out to."""


class DaysRefused(ExpectedFailure):
    """The run's parameters cannot start any day run (no such deployment, no concurrency)."""


COMPLETED = "Completed"
NO_DATA = "no data"
"""A day's status when its folder lists no file: no day run was started for it."""


@dataclass
class DayOutcome:
    """One (day, hydrophone) of a backfill or daily run: a row of its results table."""

    day: str
    hydrophone: str
    status: str
    """The day run's state (Completed, Failed, Crashed, ...), or `no data`."""
    published: int | None
    clips: int | None
    """Clips stored."""
    written: int | None
    skipped: int | None
    seconds: float | None
    reason: str
    """What the day came to in a line: the day run's state message, or why no run was started."""
    flow_run: str
    """The day run's name; empty when none was started."""
    flow_run_id: str = ""


@flow(name="whaledr-backfill", flow_run_name="backfill {start}..{end}")
@one_line_failures
def backfill_flow(
    start: Annotated[dt.date, titled("First day (UTC)")],
    end: Annotated[dt.date, titled("Last day (UTC, included)")],
    hydrophones: Annotated[tuple[Node, ...], titled("Hydrophones")] = DEFAULT_HYDROPHONES,
    selection: Annotated[Selection, titled("Which clips reach volunteers")] = SAFE_SELECTION,
    overwrite: Annotated[bool, titled("Overwrite")] = False,
    source: Annotated[str, titled("Source")] = DEFAULT_SOURCE,
    output: Annotated[Output, titled("Output (folder or S3 bucket)")] = Output(),
    app: Annotated[App, titled("App (which database to tell)")] = App(),
    rendering: Annotated[Rendering, titled("How clips look and sound")] = Rendering(),
    downloads: Annotated[Downloads, titled("Downloads (cache, how many at once)")] = Downloads(),
    dask_address: Annotated[str, titled("Dask cluster")] = "",
    deployment: Annotated[str, titled("Day deployment")] = DAY_DEPLOYMENT,
    concurrency: Annotated[int, titled("Days at once")] = 4,
    max_days: Annotated[int, titled("Longest range (days)")] = MAX_DAYS_WITHOUT_CONFIRMATION,
) -> State:
    """Every day from `start` to `end` (both included) for each hydrophone, each day its own run. Ends
    with the days complete, failed and without data as its state message; fails when a day failed, or
    when no day of the range lists any file.

    Args:
        start: The first UTC day, picked in the calendar.
        end: The last UTC day, included.
        hydrophones: The hydrophones' node codes.
        selection: How many of each day's clips volunteers get (the budget), and which are stored.
        overwrite: Render every clip again, even where it is stored (new day runs, not reused ones).
        source: Base URL (or local folder) under which {site}/{node}/{instrument}/YYYY/MM/DD/ lies.
        output: Where clips and manifests go: a folder, or a saved S3 block.
        app: Which app database to tell about the new samples.
        rendering: Clip length, spectrogram and WAV settings.
        downloads: Download cache, what to keep, how many files at once.
        dask_address: Process each day's files on this Dask cluster (tcp://host:8786). Empty: each day
            on the machine that runs it.
        deployment: Run each day as a flow run of this deployment, spread over its pool's workers;
            empty: one after another, here, as subflows.
        concurrency: Day runs in flight at once, with a deployment.
        max_days: A longer range is refused; raising it is the confirmation.
    """
    days = day_range(start, end, max_days)
    nodes = [get_hydrophone(h).node for h in hydrophones]  # an unknown name fails before any run
    days_params = DayParameters(source=source, output=output, app=app, downloads=downloads, rendering=rendering,
                                selection=selection, overwrite=overwrite, dask_address=dask_address)
    work, no_data = _days_with_files([(d, n) for d in days for n in nodes], data_calendar(source, nodes, days),
                                     source)
    outcomes = _run_days(work, no_data, days_params, deployment, concurrency, "backfill")
    return _ended(outcomes, no_data_fails=False)


def daily_run_name() -> str:
    """"daily 2026-12-03": the data day a daily run works on, from its scheduled time and lag."""
    from prefect.runtime import flow_run

    return f"daily {lagged_day(flow_run.scheduled_start_time, flow_run.parameters.get('lag_days', DEFAULT_LAG_DAYS))}"


@flow(name="whaledr-daily", flow_run_name=daily_run_name)
@one_line_failures
def daily_flow(
    hydrophones: Annotated[tuple[Node, ...], titled("Hydrophones")] = DEFAULT_HYDROPHONES,
    selection: Annotated[Selection, titled("Which clips reach volunteers")] = SAFE_SELECTION,
    lag_days: Annotated[int, titled("Lag (days)")] = DEFAULT_LAG_DAYS,
    source: Annotated[str, titled("Source")] = DEFAULT_SOURCE,
    output: Annotated[Output, titled("Output (folder or S3 bucket)")] = Output(),
    app: Annotated[App, titled("App (which database to tell)")] = App(),
    rendering: Annotated[Rendering, titled("How clips look and sound")] = Rendering(),
    downloads: Annotated[Downloads, titled("Downloads (cache, how many at once)")] = Downloads(),
    dask_address: Annotated[str, titled("Dask cluster")] = "",
    deployment: Annotated[str, titled("Day deployment")] = DAY_DEPLOYMENT,
    concurrency: Annotated[int, titled("Days at once")] = 4,
) -> State:
    """The day `lag_days` before the run's scheduled time (UTC), for each hydrophone; the run is named
    for that day. Fails when a day failed or lists no file, so that an alert says so.

    Args:
        hydrophones: The hydrophones' node codes.
        selection: How many of the day's clips volunteers get (the budget), and which are stored.
        lag_days: How many days before the scheduled time: OOI posts a day's files with a delay.
        source: Base URL (or local folder) under which {site}/{node}/{instrument}/YYYY/MM/DD/ lies.
        output: Where clips and manifests go: a folder, or a saved S3 block.
        app: Which app database to tell about the new samples.
        rendering: Clip length, spectrogram and WAV settings.
        downloads: Download cache, what to keep, how many files at once.
        dask_address: Process each day's files on this Dask cluster (tcp://host:8786). Empty: on the
            machine that runs the day.
        deployment: Run each day as a flow run of this deployment; empty: here, as subflows.
        concurrency: Day runs in flight at once, with a deployment.
    """
    from prefect.runtime import flow_run

    day = lagged_day(flow_run.scheduled_start_time, lag_days)
    nodes = [get_hydrophone(h).node for h in hydrophones]
    get_run_logger().info("daily run for %s: %s", day, ", ".join(nodes))
    days_params = DayParameters(source=source, output=output, app=app, downloads=downloads, rendering=rendering,
                                selection=selection, overwrite=False, dask_address=dask_address)
    work, no_data = _days_with_files([(day, n) for n in nodes], data_calendar(source, nodes, [day]), source)
    outcomes = _run_days(work, no_data, days_params, deployment, concurrency, "daily")
    return _ended(outcomes, no_data_fails=True)


@dataclass(frozen=True)
class DayParameters:
    """What every day run of a backfill or daily run is given, besides its day and hydrophone."""

    source: str
    output: Output
    app: App
    downloads: Downloads
    rendering: Rendering
    selection: Selection
    overwrite: bool
    dask_address: str
    workers: int = 0
    """Each day run's worker processes; 0: one per CPU of the machine that runs it."""

    def as_dict(self) -> dict:
        """As JSON-ready parameters of a day run (and of its idempotency key)."""
        return {f: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for f, v in vars(self).items()}


def _run_days(work: list[tuple[dt.date, str]], no_data: Sequence[DayOutcome], days: DayParameters,
              deployment: str, concurrency: int, origin: str) -> list[DayOutcome]:
    """Each (day, hydrophone) as a task run that ends in its day's state: a day run of `deployment`
    (tagged with `origin`, "backfill" or "daily"), a subflow here without one, and for a day without
    files a Failed task run that says so and starts nothing."""
    if concurrency < 1:
        raise DaysRefused(f"concurrency must be at least 1 (got {concurrency})")
    log = get_run_logger()
    params = days.as_dict()
    log.info("%s with files to run (%s)", _days(len(work)),
             f"deployment {deployment}" if deployment else "here, as subflows")
    outcomes: list[DayOutcome] = []
    skipped = [no_day_run.submit(o) for o in no_data]
    if deployment:
        deployment_id = _deployment_id(deployment)  # a misnamed one is one line here, not a traceback a day
        salt = _this_run_id() if days.overwrite else ""  # a redo is new runs, yet a retried backfill reuses them
        pool: ThreadPoolTaskRunner[Any]
        with ThreadPoolTaskRunner(max_workers=concurrency) as pool:
            futures: list[Any] = [pool.submit(run_day_deployment, {  # type: ignore[arg-type]  # Prefect overloads
                "deployment": deployment, "deployment_id": deployment_id, "day": d, "node": n,
                "parameters": {"day": d, "hydrophone": n, **params}, "key": day_run_key(n, d, params, salt),
                "output": days.output, "origin": origin}) for d, n in work]
            outcomes = [_outcome_of(f) for f in futures]
    else:
        for d, n in work:
            started = time.perf_counter()
            state = day_flow(day=d, hydrophone=n, return_state=True, **vars(days))
            outcomes.append(_outcome(d, n, state.name or state.type.value, time.perf_counter() - started,
                                     f"{n} {d}", str(state.state_details.flow_run_id or ""), days.output,
                                     state.message or ""))
    outcomes = sorted([*(_outcome_of(f) for f in skipped), *outcomes], key=lambda o: (o.day, o.hydrophone))
    _report(outcomes, origin)
    return outcomes


def _ended(outcomes: list[DayOutcome], no_data_fails: bool) -> State:
    """The run's end state, its message the days complete, failed and without data: a backfill fails
    when a day failed, or when no day of its range lists a file; a daily run also when its day lists none."""
    failed = [o for o in outcomes if o.status not in (COMPLETED, NO_DATA)]
    empty = [o for o in outcomes if o.status == NO_DATA]
    message = _summary(outcomes, failed, empty)
    get_run_logger().info(message)
    if failed or (empty and (no_data_fails or len(empty) == len(outcomes))):
        return Failed(message=message)  # a failed flow's data can only be an exception: Prefect raises it at the end
    return Completed(message=message, data=[asdict(o) for o in outcomes])


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _summary(outcomes: list[DayOutcome], failed: list[DayOutcome], empty: list[DayOutcome]) -> str:
    """"3 days: 1 complete, 1 failed, 1 no data; 50 clips published. Failed: ... No data: ..."."""
    done = len(outcomes) - len(failed) - len(empty)
    published = sum(o.published or 0 for o in outcomes)
    text = (f"{_days(len(outcomes))}: {done} complete, {len(failed)} failed, {len(empty)} no data; "
            f"{published} clips published")
    if failed:
        text += ". Failed: " + "; ".join(f"{o.hydrophone} {o.day}{'' if o.status == 'Failed' else ' ' + o.status}: "
                                         + o.reason.removeprefix(f"{o.hydrophone} {o.day}: ") for o in failed)
    if empty:
        text += ". No data: " + ", ".join(f"{o.hydrophone} {o.day}" for o in empty)
    return text


@task(name="run-day", task_run_name="{node} {day}", cache_policy=NO_CACHE)
def run_day_deployment(deployment: str, deployment_id: UUID, day: dt.date, node: str, parameters: dict, key: str,
                       output: Output, origin: str) -> State:
    """One day as a flow run of the day deployment, tagged `origin`; waits for it and ends in its state
    (a failed day is a failed task run), with its state message. A run this key already made is
    reused: waited for if under way, left alone if completed, and scheduled again once if it had
    failed before this run asked. A run started here is never run again here: what it failed on
    (no data, a file OOI cannot serve) is what a second try would meet.

    The reused run is looked up first rather than left to `run_deployment`'s idempotency: that one
    would link a new placeholder task run to a flow run that already exists, and leave it Pending."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    log = get_run_logger()
    with get_client(sync_client=True) as client:
        existing = _run_with_key(client, deployment_id, key)
        if existing is None:
            run = cast(FlowRun, run_deployment(deployment, parameters=parameters, idempotency_key=key,
                                               tags=[origin]))
        else:
            log.info("%s %s: reusing flow run %s (%s)", node, day, existing.name, _state(existing))
            run = _wait(client, existing)
            if run.state and (run.state.is_failed() or run.state.is_crashed() or run.state.is_cancelled()):
                log.info("%s %s: run %s had ended %s; scheduling it again", node, day, run.name, _state(run))
                client.set_flow_run_state(run.id, Scheduled(name="AwaitingRetry"), force=True)  # as the UI's Retry
                run = _wait(client, client.read_flow_run(run.id))
    message = (run.state.message if run.state else None) or ""
    outcome = _outcome(day, node, _state(run), _seconds(run), run.name, str(run.id), output, message)
    log.info("%s %s: day run %s ended %s: %s", node, day, run.name, outcome.status, run_link(str(run.id)))
    return _as_state(outcome)


@task(name="run-day", task_run_name="{outcome.hydrophone} {outcome.day}", cache_policy=NO_CACHE)
def no_day_run(outcome: DayOutcome) -> State:
    """A day whose folder lists no file: a failed task run that says so, and no day run."""
    return _as_state(outcome)


def _as_state(o: DayOutcome) -> State:
    """The wrapper task run's end: the day's own state and message (a day without files fails)."""
    message = o.reason if o.status in (COMPLETED, "Failed") else f"{o.status}: {o.reason}"
    if o.status == COMPLETED:
        return Completed(message=message, data=o)
    if o.status == "Cancelled":
        return Cancelled(message=message, data=o)
    return Failed(message=message, data=o)


def _outcome_of(future: Any) -> DayOutcome:
    """The outcome a wrapper task run ended with, Failed or not."""
    future.wait()
    return cast(DayOutcome, future.state.result(raise_on_failure=False))


def _deployment_id(name: str) -> UUID:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(name).id
        except ObjectNotFound:
            raise DaysRefused(f"no deployment named {name!r} on {client.api_url}: "
                              "run `prefect deploy --all` from the checkout") from None


def _run_with_key(client: SyncPrefectClient, deployment_id: UUID, key: str) -> FlowRun | None:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterIdempotencyKey

    runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
        idempotency_key=FlowRunFilterIdempotencyKey(any_=[key])), limit=1)
    return runs[0] if runs else None


def _wait(client: SyncPrefectClient, run: FlowRun, poll: float = 5.0) -> FlowRun:
    while not (run.state and run.state.is_final()):
        time.sleep(poll)
        run = client.read_flow_run(run.id)
    return run


def _state(run: FlowRun) -> str:
    return (run.state.name or run.state.type.value) if run.state else "Unknown"


def _seconds(run: FlowRun) -> float | None:
    if run.start_time and run.end_time:
        return (run.end_time - run.start_time).total_seconds()
    return run.total_run_time.total_seconds() if run.total_run_time else None


def _this_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id)


def _outcome(day: dt.date, node: str, status: str, seconds: float | None, flow_run: str, flow_run_id: str,
             output: Output, message: str) -> DayOutcome:
    """A day's figures come from its manifest, where the day run left them; a run that wrote none has none."""
    try:
        record = daymanifest.read(output.open(), node, day)
    except Exception as e:  # the output cannot be read from here (another machine's folder): no figures
        get_run_logger().warning("%s %s: day manifest not readable here: %s", node, day, e)
        record = None
    totals = record["totals"] if record and record.get("date") == day.isoformat() else {}
    return DayOutcome(day.isoformat(), node, status, totals.get("published"), totals.get("clips"),
                      totals.get("clips_written"), totals.get("skipped_windows"),
                      round(seconds, 1) if seconds is not None else None, message, flow_run, flow_run_id)


def _report(outcomes: list[DayOutcome], origin: str) -> None:
    """The days as the run's table artifact (`whaledr-backfill`, `whaledr-daily`: searchable, one row a
    day, every figure) and as a markdown artifact (`...-days`) that links each day's run and says why
    each day that did not complete did not (the UI shows a table artifact's cells as plain text)."""
    done = sum(o.status == COMPLETED for o in outcomes)
    description = f"{done} of {_days(len(outcomes))} complete"
    create_table_artifact(key=f"whaledr-{origin}", description=description,
                          table=[{k: v for k, v in asdict(o).items() if k != "flow_run_id"} for o in outcomes])
    lines = ["| day | hydrophone | status | published | clips stored | day run |", "|---|---|---|---|---|---|"]
    for o in outcomes:
        run = f"[{o.flow_run}]({run_link(o.flow_run_id)})" if o.flow_run_id else "none started"
        status = o.status if o.status == COMPLETED else f"**{o.status}**"
        lines.append(f"| {o.day} | {o.hydrophone} | {status} | {_figure(o.published)} | {_figure(o.clips)} | {run} |")
    lines += ["", *(f"- **{o.hydrophone} {o.day}, {o.status}**: {o.reason.removeprefix(f'{o.hydrophone} {o.day}: ')}"
                    for o in outcomes if o.status != COMPLETED)]
    create_markdown_artifact(key=f"whaledr-{origin}-days", markdown="\n".join(lines), description=description)


def _figure(value: int | None) -> str:
    return "" if value is None else str(value)


def run_link(flow_run_id: str) -> str:
    """A flow run's page in the Prefect UI, on its Details tab (where its state message is): in the UI
    the server offers by default (Prefect 3.9's is under /v2), as Prefect itself would link it otherwise."""
    from prefect.utilities.urls import url_for

    link = url_for("flow-run", obj_id=flow_run_id) or f"/runs/flow-run/{flow_run_id}"
    ui = _ui_base()
    if ui and link.startswith(ui[0]):
        link = ui[1] + link.removeprefix(ui[0])
    return f"{link}?tab=Details"


@lru_cache(maxsize=1)
def _ui_base() -> tuple[str, str] | None:
    """(the UI's URL as Prefect links it, the URL of the UI the server offers by default), from the
    server's own `ui-settings`; None when it does not say."""
    import httpx
    from prefect.settings import PREFECT_UI_URL

    ui = PREFECT_UI_URL.value()
    if not ui:
        return None
    try:
        settings = httpx.get(f"{ui.rstrip('/')}/ui-settings", timeout=5).json()
        base = settings.get(f"{settings['default_ui']}_base_url") or "/"
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return ui.rstrip("/"), ui.rstrip("/") + base.rstrip("/")


@task(name="data-calendar", cache_policy=NO_CACHE)
def data_calendar(source: str, nodes: list[str], days: list[dt.date]) -> dict[str, list[availability.DayFiles]]:
    """What the server lists for every day and hydrophone, read from the day folders' listings before
    any day starts (`whaledr availability`), and recorded as the run's `whaledr-calendar` artifact: a
    heat map per hydrophone and the days without files. A listing that fails stops the backfill and
    names the day; it is never taken for a day without files."""
    calendars: dict[str, list[availability.DayFiles]] = {}
    parts = []
    for node in nodes:
        try:
            calendars[node] = availability.survey(source, get_hydrophone(node), days)
        except availability.ListingFailed as e:
            raise DaysRefused(str(e)) from None
        png = availability.calendar_png(f"{node}, {days[0]} to {days[-1]}", calendars[node])
        parts.append(f"### {availability.summary(node, calendars[node])}\n\n"
                     f"![{node} data calendar](data:image/png;base64,{base64.b64encode(png).decode()})\n\n"
                     f"Days without files (no day run): {availability.without_files(calendars[node])}")
        get_run_logger().info(availability.summary(node, calendars[node]))
    create_markdown_artifact(key="whaledr-calendar", markdown="\n\n".join(parts),
                             description=f"What the server lists, {days[0]} to {days[-1]}")
    return calendars


def _days_with_files(work: list[tuple[dt.date, str]], calendars: dict[str, list[availability.DayFiles]],
                     source: str) -> tuple[list[tuple[dt.date, str]], list[DayOutcome]]:
    """The (day, hydrophone) pairs whose folder lists files, and an outcome `no data` for each of the
    others, saying where nothing was found."""
    listed = {(d.day, node): d for node, days in calendars.items() for d in days}
    keep = [(d, n) for d, n in work if listed[(d, n)].files]
    skipped = [DayOutcome(d.isoformat(), n, NO_DATA, None, None, None, None, None,
                          f"{_nothing_at(source, n, listed[(d, n)])}: no day run was started", "")
               for d, n in work if not listed[(d, n)].files]
    if skipped:
        get_run_logger().info("%s list no files and get no day run: %s", _days(len(skipped)),
                              ", ".join(f"{o.hydrophone} {o.day}" for o in skipped))
    return keep, skipped


def _nothing_at(source: str, node: str, day: availability.DayFiles) -> str:
    if day.folder:
        return f"the day folder {day.folder} lists no file"
    return tasks.where(source, get_hydrophone(node), day.day, None)
