"""Many days: the daily schedule and backfills. Each (day, hydrophone) is one run of the day flow.

With a deployment named, each day is its own flow run of that deployment (`run_deployment`), so days
spread over every worker polling the pool and each can be retried alone from the UI; an idempotency
key per day makes asking twice (a second backfill, a retried backfill) reuse the run that exists.
Without one (local mode), days run one after another as subflows in this process, each using the
whole machine.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.states import Scheduled
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

from .day import day_flow
from .failures import ExpectedFailure, one_line_failures
from .params import App, Downloads, Output, Rendering, Selection

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

DAY_DEPLOYMENT = "whaledr-day/day"
"""The day flow's deployment in prefect.yaml, which scheduled and backfill runs fan out to."""


class DaysRefused(ExpectedFailure):
    """The run's parameters cannot start any day run (no such deployment, no concurrency)."""


class BackfillFailed(ExpectedFailure):
    """Some days did not complete; the message names them."""


@dataclass
class DayOutcome:
    day: str
    hydrophone: str
    status: str
    clips: int | None
    written: int | None
    skipped: int | None
    seconds: float | None
    flow_run: str


@flow(name="whaledr-backfill", flow_run_name="backfill {start}..{end}")
@one_line_failures
def backfill_flow(
    start: dt.date,
    end: dt.date,
    hydrophones: tuple[Node, ...] = DEFAULT_HYDROPHONES,
    overwrite: bool = False,
    source: str = DEFAULT_SOURCE,
    output: Output = Output(),
    app: App = App(),
    downloads: Downloads = Downloads(),
    rendering: Rendering = Rendering(),
    selection: Selection = Selection(),
    dask_address: str | None = None,
    deployment: str | None = DAY_DEPLOYMENT,
    concurrency: int = 4,
    max_days: int = MAX_DAYS_WITHOUT_CONFIRMATION,
) -> list[dict]:
    """Every day from `start` to `end` (both included) for each hydrophone, each day its own run.

    Args:
        start: The first UTC day, YYYY-MM-DD.
        end: The last UTC day, included.
        hydrophones: The hydrophones' node codes.
        overwrite: Render every clip again, even where it is stored (new day runs, not reused ones).
        source: Base URL (or local folder) under which {site}/{node}/{instrument}/YYYY/MM/DD/ lies.
        output: Where clips and manifests go: a folder, or a saved S3 block.
        app: Which app database to tell about the new samples.
        downloads: Download cache, what to keep, how many files at once.
        rendering: Clip length, spectrogram and WAV settings.
        selection: Which clips are published (the budget) and which are stored.
        dask_address: Process each day's files on this Dask cluster (tcp://host:8786).
        deployment: Run each day as a flow run of this deployment, spread over its pool's workers;
            empty: one after another, here, as subflows.
        concurrency: Day runs in flight at once, with a deployment.
        max_days: A longer range is refused; raising it is the confirmation.
    """
    days = day_range(start, end, max_days)
    nodes = [get_hydrophone(h).node for h in hydrophones]  # an unknown name fails before any run
    days_params = DayParameters(source=source, output=output, app=app, downloads=downloads, rendering=rendering,
                                selection=selection, overwrite=overwrite, dask_address=dask_address)
    work, no_data = _days_with_files([(d, n) for d in days for n in nodes], data_calendar(source, nodes, days))
    return _run_days(work, days_params, deployment, concurrency, no_data)


@flow(name="whaledr-daily", flow_run_name="daily")
@one_line_failures
def daily_flow(
    hydrophones: tuple[Node, ...] = DEFAULT_HYDROPHONES,
    lag_days: int = DEFAULT_LAG_DAYS,
    source: str = DEFAULT_SOURCE,
    output: Output = Output(),
    app: App = App(),
    downloads: Downloads = Downloads(),
    rendering: Rendering = Rendering(),
    selection: Selection = Selection(),
    dask_address: str | None = None,
    deployment: str | None = DAY_DEPLOYMENT,
    concurrency: int = 4,
) -> list[dict]:
    """The day `lag_days` before the run's scheduled time (UTC), for each hydrophone.

    Args:
        hydrophones: The hydrophones' node codes.
        lag_days: How many days before the scheduled time: OOI posts a day's files with a delay.
        source: Base URL (or local folder) under which {site}/{node}/{instrument}/YYYY/MM/DD/ lies.
        output: Where clips and manifests go: a folder, or a saved S3 block.
        app: Which app database to tell about the new samples.
        downloads: Download cache, what to keep, how many files at once.
        rendering: Clip length, spectrogram and WAV settings.
        selection: Which clips are published (the budget) and which are stored.
        dask_address: Process each day's files on this Dask cluster (tcp://host:8786).
        deployment: Run each day as a flow run of this deployment; empty: here, as subflows.
        concurrency: Day runs in flight at once, with a deployment.
    """
    from prefect.runtime import flow_run

    day = lagged_day(flow_run.scheduled_start_time, lag_days)
    nodes = [get_hydrophone(h).node for h in hydrophones]
    get_run_logger().info("daily run for %s: %s", day, ", ".join(nodes))
    days_params = DayParameters(source=source, output=output, app=app, downloads=downloads, rendering=rendering,
                                selection=selection, overwrite=False, dask_address=dask_address)
    return _run_days([(day, n) for n in nodes], days_params, deployment, concurrency)


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
    dask_address: str | None
    workers: int | None = None
    """Each day run's worker processes; None: one per CPU of the machine that runs it."""

    def as_dict(self) -> dict:
        """As JSON-ready parameters of a day run (and of its idempotency key)."""
        return {f: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for f, v in vars(self).items()}


def _run_days(work: list[tuple[dt.date, str]], days: DayParameters, deployment: str | None,
              concurrency: int, no_data: Sequence[DayOutcome] = ()) -> list[dict]:
    if concurrency < 1:
        raise DaysRefused(f"concurrency must be at least 1 (got {concurrency})")
    log = get_run_logger()
    params = days.as_dict()
    log.info("%d day runs (%s)", len(work), f"deployment {deployment}" if deployment else "local subflows")
    outcomes: list[DayOutcome] = []
    if deployment:
        deployment_id = _deployment_id(deployment)  # a misnamed one is one line here, not a traceback a day
        salt = _this_run_id() if days.overwrite else ""  # a redo is new runs, yet a retried backfill reuses them
        pool: ThreadPoolTaskRunner[Any]
        with ThreadPoolTaskRunner(max_workers=concurrency) as pool:
            futures: list[Any] = [pool.submit(run_day_deployment, {  # type: ignore[arg-type]  # Prefect overloads
                "deployment": deployment, "deployment_id": deployment_id, "day": d, "node": n,
                "parameters": {"day": d, "hydrophone": n, **params}, "key": day_run_key(n, d, params, salt),
                "output": days.output}) for d, n in work]
            outcomes = [f.result() for f in futures]
    else:
        for d, n in work:
            started = time.perf_counter()
            state = day_flow(day=d, hydrophone=n, return_state=True, **vars(days))
            outcomes.append(_outcome(d, n, state.name or state.type.value, time.perf_counter() - started, "",
                                     days.output))
    outcomes = sorted([*no_data, *outcomes], key=lambda o: o.day)
    _report(outcomes)
    failed = [o for o in outcomes if o.status not in ("Completed", NO_DATA)]
    log.info("%d of %d day runs completed", len(work) - len(failed), len(work))
    if failed:
        raise BackfillFailed(f"{len(failed)} of {len(work)} day runs did not complete: "
                             + ", ".join(f"{o.hydrophone} {o.day} ({o.status})" for o in failed))
    return [asdict(o) for o in outcomes]


@task(name="run-day", task_run_name="{node} {day}", cache_policy=NO_CACHE)
def run_day_deployment(deployment: str, deployment_id: UUID, day: dt.date, node: str, parameters: dict, key: str,
                       output: Output) -> DayOutcome:
    """One day as a flow run of the day deployment; waits for it. A run this key already made is
    reused: waited for if under way, left alone if completed, scheduled again if it failed.

    The reused run is looked up first rather than left to `run_deployment`'s idempotency: that one
    would link a new placeholder task run to a flow run that already exists, and leave it Pending."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    log = get_run_logger()
    with get_client(sync_client=True) as client:
        existing = _run_with_key(client, deployment_id, key)
        if existing is None:
            run = cast(FlowRun, run_deployment(deployment, parameters=parameters, idempotency_key=key,
                                               flow_run_name=f"{node} {day}"))
        else:
            log.info("%s %s: reusing flow run %s (%s)", node, day, existing.name, _state(existing))
            run = _wait(client, existing)
        if run.state and (run.state.is_failed() or run.state.is_crashed() or run.state.is_cancelled()):
            log.info("%s %s: run %s ended %s; scheduling it again", node, day, run.name, _state(run))
            client.set_flow_run_state(run.id, Scheduled(name="AwaitingRetry"), force=True)  # as the UI's Retry
            run = _wait(client, client.read_flow_run(run.id))
    return _outcome(day, node, _state(run), _seconds(run), run.name, output)


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


def _outcome(day: dt.date, node: str, status: str, seconds: float | None, flow_run: str, output: Output) -> DayOutcome:
    """A day's figures come from its manifest, where the day run left them; a run that wrote none has none."""
    try:
        record = daymanifest.read(output.open(), node, day)
    except Exception as e:  # the output cannot be read from here (another machine's folder): no figures
        get_run_logger().warning("%s %s: day manifest not readable here: %s", node, day, e)
        record = None
    totals = record["totals"] if record and record.get("date") == day.isoformat() else {}
    return DayOutcome(day.isoformat(), node, status, totals.get("clips"), totals.get("clips_written"),
                      totals.get("skipped_windows"), round(seconds, 1) if seconds is not None else None, flow_run)


def _report(outcomes: list[DayOutcome]) -> None:
    done = sum(o.status == "Completed" for o in outcomes)
    create_table_artifact(
        key="whaledr-backfill",
        table=[asdict(o) for o in outcomes],
        description=f"{done} of {len(outcomes)} day runs completed",
    )


NO_DATA = "no data"
"""A backfill's status for a day whose folder lists no file: no day run was started for it."""


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


def _days_with_files(work: list[tuple[dt.date, str]], calendars: dict[str, list[availability.DayFiles]]
                     ) -> tuple[list[tuple[dt.date, str]], list[DayOutcome]]:
    """The (day, hydrophone) pairs whose folder lists files, and an outcome `no data` for each of the others."""
    files = {(d.day, node): d.files for node, days in calendars.items() for d in days}
    keep = [(d, n) for d, n in work if files[(d, n)]]
    skipped = [DayOutcome(d.isoformat(), n, NO_DATA, None, None, None, None, "") for d, n in work if not files[(d, n)]]
    if skipped:
        get_run_logger().info("%d days list no files and get no day run: %s", len(skipped),
                              ", ".join(f"{o.hydrophone} {o.day}" for o in skipped))
    return keep, skipped
