"""Many days: the daily schedule and backfills. Each (day, hydrophone) is one run of the day flow.

With a deployment named, each day is its own flow run of that deployment (`run_deployment`), so days
spread over every worker polling the pool and each can be retried alone from the UI; an idempotency
key per day makes asking twice (a second backfill, a retried backfill) reuse the run that exists.
Without one (local mode), days run one after another as subflows in this process, each using the
whole machine.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun
from prefect.states import Scheduled
from prefect.task_runners import ThreadPoolTaskRunner

from whaledr_core import manifest
from whaledr_core.catalog import DEFAULT_HYDROPHONES, DEFAULT_SOURCE, get_hydrophone
from whaledr_core.days import (
    DEFAULT_LAG_DAYS, MAX_DAYS_WITHOUT_CONFIRMATION, day_range, day_run_key, lagged_day,
)
from whaledr_core.naming import day_manifest_key

from .day import day_flow
from .targets import Target

DAY_DEPLOYMENT = "whaledr-day/day"
"""The day flow's deployment in prefect.yaml, which scheduled and backfill runs fan out to."""


class BackfillFailed(RuntimeError):
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
def backfill_flow(
    start: dt.date,
    end: dt.date,
    hydrophones: list[str] = list(DEFAULT_HYDROPHONES),
    overwrite: bool = False,
    source: str = DEFAULT_SOURCE,
    out: str = "whaledr-out",
    s3_block: str | None = None,
    firebase_block: str | None = None,
    dask_address: str | None = None,
    deployment: str | None = DAY_DEPLOYMENT,
    concurrency: int = 4,
    max_days: int = MAX_DAYS_WITHOUT_CONFIRMATION,
    app_block: str | None = None,
) -> list[dict]:
    """Every day from `start` to `end` (both included) for each hydrophone. A range longer than
    `max_days` is refused: raising `max_days` is the confirmation. `concurrency` bounds the days
    in flight (with a deployment); the workers' own limits bound what each machine runs."""
    days = day_range(start, end, max_days)
    nodes = [get_hydrophone(h).node for h in hydrophones]  # an unknown name fails before any run
    return _run_days([(d, n) for d in days for n in nodes], overwrite, source, out, s3_block,
                     firebase_block, dask_address, deployment, concurrency, app_block)


@flow(name="whaledr-daily", flow_run_name="daily")
def daily_flow(
    hydrophones: list[str] = list(DEFAULT_HYDROPHONES),
    lag_days: int = DEFAULT_LAG_DAYS,
    source: str = DEFAULT_SOURCE,
    out: str = "whaledr-out",
    s3_block: str | None = None,
    firebase_block: str | None = None,
    dask_address: str | None = None,
    deployment: str | None = DAY_DEPLOYMENT,
    concurrency: int = 4,
    app_block: str | None = None,
) -> list[dict]:
    """The day `lag_days` before the run's scheduled time (UTC), for each hydrophone."""
    from prefect.runtime import flow_run

    day = lagged_day(flow_run.scheduled_start_time, lag_days)
    nodes = [get_hydrophone(h).node for h in hydrophones]
    get_run_logger().info("daily run for %s: %s", day, ", ".join(nodes))
    return _run_days([(day, n) for n in nodes], False, source, out, s3_block, firebase_block,
                     dask_address, deployment, concurrency, app_block)


def _run_days(work: list[tuple[dt.date, str]], overwrite: bool, source: str, out: str, s3_block: str | None,
              firebase_block: str | None, dask_address: str | None, deployment: str | None,
              concurrency: int, app_block: str | None = None) -> list[dict]:
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1 (got {concurrency})")
    log = get_run_logger()
    target = Target(out, "", s3_block)
    params = dict(source=source, out=out, s3_block=s3_block, firebase_block=firebase_block,
                  overwrite=overwrite, dask_address=dask_address)
    if app_block:  # only when named: a day run's idempotency key stays what it was without one
        params["app_block"] = app_block
    log.info("%d day runs (%s)", len(work), f"deployment {deployment}" if deployment else "local subflows")
    outcomes: list[DayOutcome] = []
    if deployment:
        salt = _this_run_id() if overwrite else ""  # a redo is new runs, yet a retried backfill reuses them
        with ThreadPoolTaskRunner(max_workers=concurrency) as pool:
            futures = [pool.submit(run_day_deployment, {
                "deployment": deployment, "day": d, "node": n, "parameters": {"day": d, "hydrophone": n, **params},
                "key": day_run_key(n, d, params, salt), "target": target}) for d, n in work]
            outcomes = [f.result() for f in futures]
    else:
        for d, n in work:
            started = time.perf_counter()
            state = day_flow(day=d, hydrophone=n, return_state=True, **params)
            outcomes.append(_outcome(d, n, state.name, time.perf_counter() - started, "", target))
    _report(outcomes)
    failed = [o for o in outcomes if o.status != "Completed"]
    log.info("%d of %d day runs completed", len(outcomes) - len(failed), len(outcomes))
    if failed:
        raise BackfillFailed(f"{len(failed)} of {len(outcomes)} day runs did not complete: "
                             + ", ".join(f"{o.hydrophone} {o.day} ({o.status})" for o in failed))
    return [asdict(o) for o in outcomes]


@task(name="run-day", task_run_name="{node} {day}", cache_policy=NO_CACHE)
def run_day_deployment(deployment: str, day: dt.date, node: str, parameters: dict, key: str,
                       target: Target) -> DayOutcome:
    """One day as a flow run of the day deployment; waits for it. A run this key already made is
    reused: waited for if under way, left alone if completed, scheduled again if it failed."""
    from prefect.deployments import run_deployment

    run = run_deployment(deployment, parameters=parameters, idempotency_key=key, flow_run_name=f"{node} {day}")
    if run.state and (run.state.is_failed() or run.state.is_crashed() or run.state.is_cancelled()):
        get_run_logger().info("%s %s: run %s ended %s; scheduling it again", node, day, run.name, run.state.name)
        run = _retry(run)
    return _outcome(day, node, run.state.name if run.state else "Unknown", _seconds(run), run.name, target)


def _retry(run: FlowRun, poll: float = 5.0) -> FlowRun:
    """What the UI's Retry does: the same flow run, scheduled again, then waited for."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run.id, Scheduled(name="AwaitingRetry"), force=True)
        while True:
            run = client.read_flow_run(run.id)
            if run.state and run.state.is_final():
                return run
            time.sleep(poll)


def _seconds(run: FlowRun) -> float | None:
    if run.start_time and run.end_time:
        return (run.end_time - run.start_time).total_seconds()
    return run.total_run_time.total_seconds() if run.total_run_time else None


def _this_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id)


def _outcome(day: dt.date, node: str, status: str, seconds: float | None, flow_run: str, target: Target) -> DayOutcome:
    """A day's figures come from its manifest, where the day run left them; a run that wrote none has none."""
    try:
        sink = target.open()
        record = manifest.loads(sink.get(day_manifest_key(sink.prefix, node, day)))
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
