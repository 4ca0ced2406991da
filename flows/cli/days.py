"""`whaledr backfill` (a range of days) and `whaledr serve` (the daily schedule, from this process)."""

from __future__ import annotations

import json
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from whaledr_core.days import MAX_DAYS_WITHOUT_CONFIRMATION

from ..params import SAFE_BUDGET
from . import options as o
from .local import ProgressBar, checked_source, hydrophone_nodes, open_blocks, quiet, warnings_shown, where_to


def backfill(
    start: Annotated[str, typer.Argument(help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Argument(help="Last UTC day, YYYY-MM-DD (included).")],
    hydrophone: o.Hydrophones = None,
    source: o.Source = None,
    out: o.Out = o.DEFAULT_OUT,
    s3_block: o.S3Block = None,
    firebase_block: o.FirebaseBlock = None,
    app: o.AppBlock = None,
    overwrite: o.Overwrite = False,
    deployment: Annotated[str | None, typer.Option(
        help="Run each day as a flow run of this deployment (e.g. whaledr-day/day), spread over its pool's "
             "workers, instead of here.")] = None,
    concurrency: Annotated[int, typer.Option(help="Day runs in flight at once, with --deployment.")] = 4,
    publish: o.Publish = o.MANY_DAYS_PUBLISH,
    store: o.Store = o.DEFAULT_STORE,
    dask_address: o.DaskAddress = None,
    max_days: Annotated[int, typer.Option(min=1, help="Longer ranges need --yes.")] = MAX_DAYS_WITHOUT_CONFIRMATION,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm a range longer than --max-days.")] = False,
    verbose: o.Verbose = False,
) -> None:
    """Process every day from START to END for each hydrophone: here, one day after another, or with
    --deployment as flow runs that a work pool's workers share."""
    from whaledr_core import daymanifest
    from whaledr_core.days import DayRangeError, day_range, too_long

    from ..params import Selection

    first, last = o.parse_date(start), o.parse_date(end)
    nodes = hydrophone_nodes(hydrophone)
    limit = max_days
    try:
        days = day_range(first, last, None)
        if len(days) > limit and not yes and not (
                sys.stdin.isatty() and typer.confirm(f"{len(days)} days x {len(nodes)} hydrophones: go on?")):
            raise too_long(first, last, limit)
    except DayRangeError as e:
        o.fail(str(e))
    if concurrency < 1:
        o.fail("--concurrency must be at least 1")
    try:
        selection = Selection(publish=publish, store=store)
    except ValueError as e:
        o.fail(o.one_line(e))
    source = checked_source(source)
    quiet(verbose)
    from ..server import prefect_api

    output, app_group = where_to(out, s3_block, app, firebase_block)
    with prefect_api():
        from ..backfill import backfill_flow
        from ..progress import listening

        sink = open_blocks(output, app_group)
        if deployment:
            _check_deployment(deployment)
        with ProgressBar() as listener, listening(listener), warnings_shown(verbose):
            state = backfill_flow(start=first, end=last, hydrophones=nodes, overwrite=overwrite, source=source,
                                  output=output, app=app_group, selection=selection, dask_address=dask_address or "",
                                  deployment=deployment or "", concurrency=concurrency, max_days=len(days),
                                  return_state=True)
        skipped = _no_data(state)
        for day in days:
            for node in nodes:
                record = daymanifest.read(sink, node, day)
                typer.echo(daymanifest.summary_line(record) if record else
                           f"{node} {day}: no files on the server, no day run" if (node, day.isoformat()) in skipped
                           else f"{node} {day}: no day manifest")
    if not state.is_completed():
        o.fail(str(state.message), 1)
    typer.echo(str(state.message))


def _no_data(state: Any) -> set[tuple[str, str]]:
    """The (hydrophone, day) pairs the backfill started no run for, for want of files: its table says so."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from ..backfill import NO_DATA

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["whaledr-backfill"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    data: Any = found[0].data if found else []
    rows: list[dict] = json.loads(data) if isinstance(data, str) else data or []
    return {(row["hydrophone"], row["day"]) for row in rows if row.get("status") == NO_DATA}


def _check_deployment(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            o.fail(f"no deployment named {name!r} on {client.api_url}: run `prefect deploy --all` from the checkout")


def _given(**values: Any) -> dict[str, Any]:
    """The options a user gave (not None): serve's overrides of prefect.yaml, group by group."""
    return {k: v for k, v in values.items() if v is not None}


def serve(
    hydrophone: Annotated[list[str] | None, typer.Option(
        help=o.HYDROPHONE_HELP + " Repeat for several. [default: prefect.yaml's]")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Output folder, when no --s3-block. [default: prefect.yaml's]")] = None,
    s3_block: o.S3Block = None,
    firebase_block: o.FirebaseBlock = None,
    app: o.AppBlock = None,
    source: o.Source = None,
    publish: Annotated[str | None, typer.Option(
        help=o.PUBLISH_HELP + f" [default: prefect.yaml's, {SAFE_BUDGET}]")] = None,
    store: Annotated[str | None, typer.Option(help=o.STORE_HELP + " [default: prefect.yaml's]")] = None,
    port: Annotated[int, typer.Option(
        help="Port of the Prefect server and UI started when PREFECT_API_URL is not set.")] = 4200,
) -> None:
    """Keep prefect.yaml's deployments (the daily schedule, backfill, day) running from this process,
    with a Prefect server and its UI on 127.0.0.1:PORT unless PREFECT_API_URL names one. Ctrl-C stops."""
    from ..params import App, Output, Selection
    from ..project import served
    from ..server import prefect_server

    nodes = hydrophone_nodes(hydrophone) if hydrophone else None
    overrides = _given(
        hydrophones=nodes, source=checked_source(source) if source else None,
        output=_given(folder=str(out) if out else None, s3_block=s3_block) or None,
        app=_given(block=app or None, firebase_block=firebase_block or None) or None,
        selection=_given(publish=publish or None, store=store or None) or None)
    deployments = served(overrides)
    daily = next(d for d in deployments if d.name == "daily")
    try:  # the groups as the daily runs will get them, checked before any server starts
        output_group = Output.model_validate(daily.parameters.get("output", {}))
        app_group = App.model_validate(daily.parameters.get("app", {}))
        Selection.model_validate(daily.parameters.get("selection", {}))
    except ValueError as e:
        o.fail(o.one_line(e))
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop ends the server too
    with ExitStack() as stack:
        try:
            url = stack.enter_context(prefect_server(port))
        except RuntimeError as e:  # the port is taken, or the server would not start
            o.fail(str(e), 1)
        from prefect import serve as prefect_serve

        from ..limits import DOWNLOAD_LIMIT, ensure_download_limit

        open_blocks(output_group, app_group)
        typer.echo(f"Prefect UI: {url.removesuffix('/api')}")
        limit = ensure_download_limit()
        typer.echo(f"OOI downloads: at most {limit.slots} at once over every run ({DOWNLOAD_LIMIT}, "
                   f"{'created' if limit.created else 'kept'}; UI: Concurrency, or `whaledr download-limit --slots N`)")
        prefect_serve(*deployments)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
