"""Running a flow from a terminal: one Prefect API for the run, blocks checked before any work, a
progress bar fed by the flow in this process, and one summary line at the end."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer

from .options import fail, one_line

if TYPE_CHECKING:
    from whaledr_core.sinks import Sink

    from ..params import App, Downloads, Output, Rendering, Selection


def quiet(verbose: bool) -> None:
    if not verbose:
        # our progress bar and summary speak for the run; -v shows Prefect's lines and tracebacks
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


class _Warnings(logging.Handler):
    """The flows' own warnings (a budget that widens a day, say) on stderr while the console is quiet:
    WARNING exactly, so that failures keep their one-line summary and tracebacks stay behind -v."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING:
            typer.secho(f"whaledr: warning: {record.getMessage()}", fg="yellow", err=True)


@contextlib.contextmanager
def warnings_shown(verbose: bool) -> Iterator[None]:
    """Show the run's warnings for the `with` block (Prefect's console shows them itself with -v)."""
    handler, logger = _Warnings(logging.WARNING), logging.getLogger("prefect.flow_runs")
    if not verbose:
        logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def hydrophone_nodes(codes: list[str] | None) -> list[str]:
    """Node codes for the names given (any form the catalog knows), or the catalog's default."""
    from whaledr_core.catalog import DEFAULT_HYDROPHONES, UnknownHydrophone, get_hydrophone

    try:
        return [get_hydrophone(c).node for c in (codes or DEFAULT_HYDROPHONES)]
    except UnknownHydrophone as e:
        fail(str(e))


def checked_source(source: str | None) -> str:
    """The source to use, checked to answer like an OOI server (or be such a folder) before any run."""
    from whaledr_core.catalog import DEFAULT_SOURCE
    from whaledr_core.listing import ListingError, check_source

    source = source or DEFAULT_SOURCE
    try:
        check_source(source)
    except ListingError as e:
        fail(str(e))
    return source


def where_to(out: object, s3_block: str | None, app: str | None, firebase_block: str | None) -> tuple[Output, App]:
    """The output and app groups from the options every command spells the same; a mistake costs a line."""
    from ..params import App, Output

    try:
        return Output(folder=str(out), s3_block=s3_block), App(block=app, firebase_block=firebase_block)
    except ValueError as e:
        fail(one_line(e))


def open_blocks(output: Output, app: App, rendering: Rendering | None = None) -> Sink:
    """The output's sink, and the app's block loaded once: a misnamed block, or keys the app would not
    find, cost a line (exit 2), not a started run."""
    from whaledr_core.render import RenderSettings

    from ..app import check_target
    from ..targets import BlockMissing, firebase

    try:
        sink = output.open()
        if app.firebase_block:
            firebase(app.firebase_block)
        if app.block:
            check_target(app.block, output, rendering.render_settings() if rendering else RenderSettings())
    except (BlockMissing, ValueError) as e:
        fail(one_line(e))
    return sink


def run_day(day: dt.date, node: str, source: str, output: Output, app: App, downloads: Downloads,
            rendering: Rendering, selection: Selection, overwrite: bool, dask_address: str | None,
            workers: int | None, verbose: bool) -> int:
    """The day flow here, on `workers` processes; returns the exit code (0 complete, 1 not)."""
    quiet(verbose)
    from whaledr_core import daymanifest

    from ..server import prefect_api

    started = time.perf_counter()
    with prefect_api():
        from ..day import day_flow
        from ..progress import listening

        sink = open_blocks(output, app, rendering)
        with ProgressBar() as listener, listening(listener), warnings_shown(verbose):
            state = day_flow(day=day, hydrophone=node, source=source, output=output, app=app, downloads=downloads,
                             rendering=rendering, selection=selection, overwrite=overwrite,
                             dask_address=dask_address or "", workers=workers or 0, return_state=True)
        record = daymanifest.read(sink, node, day)
    seconds = time.perf_counter() - started
    if state.is_completed() and record:
        typer.echo(daymanifest.summary_line(record, seconds))
        return 0
    if record and record["date"] == day.isoformat() and state.is_failed() and not record["complete"]:
        typer.echo(daymanifest.summary_line(record, seconds))
        typer.secho(f"whaledr: day incomplete; failed files: {', '.join(record['failed_files'])}; "
                    f"rerun the same command to retry them", fg="red", err=True)
        return 1
    typer.secho(f"whaledr: {node} {day} failed: {state.message}", fg="red", err=True)
    return 1


class ProgressBar:
    """Files and clips done, clip rate and time left, on stderr: one bar per day the flow reports."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
            TextColumn("{task.fields[clips]} clips, {task.fields[rate]} clips/s"),
            TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False,
        )
        self.progress.start()
        self.task = None
        self.t0 = time.perf_counter()
        return self.listen

    def listen(self, event) -> None:
        if event.kind == "start":
            self.t0 = time.perf_counter()
            self.task = self.progress.add_task(event.label or "processing", total=event.total, clips=0, rate="-")
        elif self.task is not None:
            rate = event.clips / max(time.perf_counter() - self.t0, 1e-6)
            self.progress.update(self.task, completed=event.done, total=event.total, clips=event.clips,
                                 rate=f"{rate:.0f}")  # a top budget's second pass adds files to the total

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
