"""`whaledr`: run a day, make a synthetic OOI mirror, or try it all on an embedded demo."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

HYDROPHONE_HELP = "Node (LJ01D), reference designator or instrument code of a broadband hydrophone."


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"whaledr: {message}", fg="red", err=True)
    raise typer.Exit(code)


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"invalid date {value!r}: use YYYY-MM-DD")
        raise  # unreachable


def _pair(value: str | None, what: str) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lo, hi = (float(x) for x in value.split(","))
    except ValueError:
        _fail(f"{what} takes two numbers, LOW,HIGH (got {value!r})")
        raise
    return lo, hi


def _size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(x) for x in value.lower().split("x"))
    except ValueError:
        _fail(f"--size takes WIDTHxHEIGHT (got {value!r})")
        raise
    return width, height


@app.command()
def run(
    date: Annotated[str, typer.Argument(help="UTC day to process, YYYY-MM-DD.")],
    hydrophone: Annotated[str, typer.Option(help=HYDROPHONE_HELP)] = "LJ01D",
    source: Annotated[Optional[str], typer.Option(help="Base URL or local folder holding {site}/{node}/{instrument}/YYYY/MM/DD/. [default: the OOI raw data server]")] = None,
    out: Annotated[Path, typer.Option(help="Output folder; clips land under {node}/{YYYY_MM_DD}/ as the app's keys.")] = Path("whaledr-out"),
    clip_seconds: Annotated[int, typer.Option(help="Clip length in seconds; must divide a day.")] = 5,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes. [default: CPU count]")] = None,
    overwrite: Annotated[bool, typer.Option(help="Render every clip again even where it exists.")] = False,
    cache: Annotated[Optional[Path], typer.Option(help="Download cache. [default: ~/.cache/whaledr]")] = None,
    keep_downloads: Annotated[bool, typer.Option(help="Keep a finished day's downloads in the cache.")] = False,
    nfft: Annotated[int, typer.Option(help="FFT length.")] = 4096,
    overlap: Annotated[float, typer.Option(help="FFT window overlap, 0-1.")] = 0.75,
    band: Annotated[str, typer.Option(help="Frequency band shown, Hz, LOW,HIGH.")] = "0,4000",
    cmap: Annotated[str, typer.Option(help="Matplotlib colour map.")] = "bone",
    percentiles: Annotated[str, typer.Option(help="Contrast from this clip's dB percentiles LOW,HIGH.")] = "10,99.5",
    db_range: Annotated[Optional[str], typer.Option(help="Fixed contrast in dB, LOW,HIGH (instead of percentiles).")] = None,
    size: Annotated[str, typer.Option(help="Plot area in pixels, WIDTHxHEIGHT.")] = "512x384",
    axes: Annotated[bool, typer.Option(help="Labelled time and frequency axes around the plot.")] = True,
    wav: Annotated[str, typer.Option(help="int16 (mean removed, peak-normalised) or int32-raw (counts).")] = "int16",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")] = False,
) -> None:
    """Process one day of one hydrophone into clips in a local folder."""
    day = _date(date)
    from whaledr_core.catalog import DEFAULT_SOURCE, SAMPLE_RATE, UnknownHydrophone, get_hydrophone
    from whaledr_core.clips import ClipSettings
    from whaledr_core.listing import ListingError, check_source
    from whaledr_core.render import RenderSettings, palette

    fmin, fmax = _pair(band, "--band")
    width, height = _size(size)
    policy, (lo, hi) = ("fixed", _pair(db_range, "--db-range")) if db_range else ("percentile", _pair(percentiles, "--percentiles"))
    try:  # every setting is checked here, so that a mistake costs a line, not a started run
        h = get_hydrophone(hydrophone)
        ClipSettings(clip_seconds=clip_seconds)
        rs = RenderSettings(nfft=nfft, overlap=overlap, fmin=fmin, fmax=fmax, cmap=cmap, db_policy=policy,
                            db_low=lo, db_high=hi, width=width, height=height, axes=axes, wav=wav)
        rs.check_rate(SAMPLE_RATE)
        palette(cmap)
    except (UnknownHydrophone, ValueError) as e:
        _fail(str(e))
    source = source or DEFAULT_SOURCE
    try:
        check_source(source)
    except ListingError as e:
        _fail(str(e))
    if workers is not None and workers < 1:
        _fail("--workers must be at least 1")
    code = _run_day(day, h.node, source, out, clip_seconds, rs, workers, overwrite, cache, keep_downloads, verbose)
    raise typer.Exit(code)


def _run_day(day, node, source, out, clip_seconds, rs, workers, overwrite, cache, keep_downloads, verbose) -> int:
    if not verbose:
        # our progress bar and summary speak for the run; -v shows Prefect's lines and tracebacks
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    from .server import prefect_api

    started = time.perf_counter()
    with prefect_api():
        from prefect.task_runners import ProcessPoolTaskRunner

        from whaledr_core import manifest
        from whaledr_core.naming import day_manifest_key
        from whaledr_core.sinks import open_sink

        from .day import day_flow
        from .progress import listening

        flow = day_flow.with_options(task_runner=ProcessPoolTaskRunner(max_workers=workers))
        with _progress_bar() as listener, listening(listener):
            state = flow(day=day, hydrophone=node, source=source, out=str(out), clip_seconds=clip_seconds,
                         render=rs, overwrite=overwrite, cache=str(cache) if cache else None,
                         keep_downloads=keep_downloads, return_state=True)
        record = manifest.loads(open_sink(str(out)).get(day_manifest_key("", node, day)))
    seconds = time.perf_counter() - started
    if state.is_completed() and record:
        typer.echo(manifest.summary_line(record, seconds))
        return 0
    if record and record["date"] == day.isoformat() and state.is_failed() and not record["complete"]:
        typer.echo(manifest.summary_line(record, seconds))
        typer.secho(f"whaledr: day incomplete; failed files: {', '.join(record['failed_files'])}; "
                    f"rerun the same command to retry them", fg="red", err=True)
        return 1
    typer.secho(f"whaledr: {node} {day} failed: {state.message}", fg="red", err=True)
    return 1


class _progress_bar:
    """Files and clips done, clip rate and time left, on stderr."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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
            self.task = self.progress.add_task("processing", total=event.total, clips=0, rate="-")
        elif self.task is not None:
            rate = event.clips / max(time.perf_counter() - self.t0, 1e-6)
            self.progress.update(self.task, completed=event.done, clips=event.clips, rate=f"{rate:.0f}")

    def __exit__(self, *exc):
        self.progress.stop()
        return False


@app.command()
def synth(
    directory: Annotated[Path, typer.Argument(help="Folder to write the mirror into (the --source base).")],
    date: Annotated[str, typer.Option("--date", help="UTC day, YYYY-MM-DD.")],
    hydrophone: Annotated[str, typer.Option(help=HYDROPHONE_HELP)] = "LJ01D",
    files: Annotated[int, typer.Option(help="How many 5-minute files (288 is a whole day).")] = 12,
    first: Annotated[str, typer.Option(help="UTC time of the first file, HH:MM.")] = "00:00",
    gap_seconds: Annotated[float, typer.Option(help="The second file starts this late (a gap, then irregular starts).")] = 0.0,
    fragmented: Annotated[bool, typer.Option(help="Write the first file as hundreds of jittering fragments.")] = False,
    truncated: Annotated[bool, typer.Option(help="Cut the last file in the middle of a record.")] = False,
    addendum: Annotated[bool, typer.Option(help="Put the last file in the day's addendum/ folder.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Write a synthetic OOI mirror: serve it with `python -m http.server --directory DIR`."""
    day = _date(date)
    from whaledr_core.catalog import UnknownHydrophone, get_hydrophone
    from whaledr_core.synth import SynthOptions, write_day

    try:
        h = get_hydrophone(hydrophone)
        t = dt.time.fromisoformat(first)
    except (UnknownHydrophone, ValueError) as e:
        _fail(str(e))
    if not 1 <= files <= 288:
        _fail("--files must be 1 to 288")
    written = write_day(directory, h, day, SynthOptions(files=files, first=t, gap_seconds=gap_seconds,
                                                       fragmented=fragmented, truncated=truncated,
                                                       addendum=addendum, seed=seed))
    size = sum(p.stat().st_size for p in written)
    typer.echo(f"wrote {len(written)} files ({size / 1e6:.0f} MB) for {h.node} {day} under {directory}")


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="Where the mirror and the output go.")] = Path("whaledr-demo"),
    files: Annotated[int, typer.Option(help="5-minute files in the demo day.")] = 6,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes. [default: CPU count]")] = None,
) -> None:
    """The whole pipeline with no internet: a synthetic day served over loopback HTTP, to a local folder."""
    from whaledr_core.catalog import get_hydrophone
    from whaledr_core.render import RenderSettings
    from whaledr_core.synth import SynthOptions, write_day

    from whaledr_core.mirror import serve

    day, h = dt.date(2019, 1, 12), get_hydrophone("LJ01D")
    mirror, out = directory / "mirror", directory / "out"
    if not (mirror.exists() and any(mirror.rglob("*.mseed"))):
        typer.echo(f"writing a synthetic day of {files} files to {mirror} ...")
        write_day(mirror, h, day, SynthOptions(files=files, gap_seconds=2.5, fragmented=True, addendum=True))
    with serve(mirror) as url:
        typer.echo(f"serving {mirror} at {url}; output to {out}")
        code = _run_day(day, h.node, url, out, 5, RenderSettings(), workers, False, directory / "cache", False, False)
    if code == 0:
        typer.echo(f"look at the clips under {out / h.node / day.strftime('%Y_%m_%d')}")
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
