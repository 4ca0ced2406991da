"""`whaledr`: run a day, make a synthetic OOI mirror, or try it all on an embedded demo."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Optional

import typer

from whaledr_core.sinks import DEFAULT_UPLOAD_CONCURRENCY

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

HYDROPHONE_HELP = "Node (LJ01D), reference designator or instrument code of a broadband hydrophone."
DASK_HELP = ("Process files on this running Dask cluster (tcp://host:8786) instead of local processes; "
             "its workers need whaledr installed and PREFECT_API_URL set.")


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
    s3_block: Annotated[Optional[str], typer.Option(help="Upload to the bucket of this saved S3Bucket block instead of --out (see `whaledr blocks`).")] = None,
    firebase_block: Annotated[Optional[str], typer.Option(help="Then add the new IDs to the app's Realtime Database through this saved block.")] = None,
    upload_concurrency: Annotated[int, typer.Option(help="Parallel uploads per worker process.")] = DEFAULT_UPLOAD_CONCURRENCY,
    public_read: Annotated[bool, typer.Option(help="Upload with the public-read ACL (for buckets that use ACLs).")] = False,
    cache_control: Annotated[Optional[str], typer.Option(help="Cache-Control header for clips, e.g. 'public, max-age=31536000, immutable'.")] = None,
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
    dask_address: Annotated[Optional[str], typer.Option(help=DASK_HELP)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")] = False,
) -> None:
    """Process one day of one hydrophone into clips in a local folder."""
    day = _date(date)
    from whaledr_core.catalog import SAMPLE_RATE, UnknownHydrophone, get_hydrophone
    from whaledr_core.clips import ClipSettings
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
    source = _source(source)
    if workers is not None and workers < 1:
        _fail("--workers must be at least 1")
    if upload_concurrency < 1:
        _fail("--upload-concurrency must be at least 1")
    from .targets import Target

    target = Target(str(out), "", s3_block, upload_concurrency, public_read, cache_control)
    code = _run_day(day, h.node, source, target, firebase_block, workers, verbose,
                    dict(clip_seconds=clip_seconds, render=rs, overwrite=overwrite, dask_address=dask_address,
                         cache=str(cache) if cache else None, keep_downloads=keep_downloads))
    raise typer.Exit(code)


def _source(source: str | None) -> str:
    """The source to use, checked to answer like an OOI server (or be such a folder) before any run."""
    from whaledr_core.catalog import DEFAULT_SOURCE
    from whaledr_core.listing import ListingError, check_source

    source = source or DEFAULT_SOURCE
    try:
        check_source(source)
    except ListingError as e:
        _fail(str(e))
    return source


def _quiet(verbose: bool) -> None:
    if not verbose:
        # our progress bar and summary speak for the run; -v shows Prefect's lines and tracebacks
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _open_blocks(target: "Target", firebase_block: str | None):
    """The output's sink, and the Firebase block loaded once: a misnamed block costs a line, not a started run."""
    from .targets import BlockMissing, firebase

    try:
        sink = target.open()
        if firebase_block:
            firebase(firebase_block)
    except (BlockMissing, ValueError) as e:
        _fail(str(e))
    return sink


def _run_day(day, node, source, target: "Target", firebase_block, workers, verbose, options: dict) -> int:
    _quiet(verbose)
    from .server import prefect_api

    started = time.perf_counter()
    with prefect_api():
        from prefect.task_runners import ProcessPoolTaskRunner

        from whaledr_core import manifest
        from whaledr_core.naming import day_manifest_key

        from .day import day_flow
        from .progress import listening
        sink = _open_blocks(target, firebase_block)
        flow = day_flow.with_options(task_runner=ProcessPoolTaskRunner(max_workers=workers))
        with _progress_bar() as listener, listening(listener):
            state = flow(day=day, hydrophone=node, source=source, out=target.out, prefix=target.prefix,
                         s3_block=target.s3_block, firebase_block=firebase_block,
                         upload_concurrency=target.upload_concurrency, public_read=target.public_read,
                         cache_control=target.cache_control, return_state=True, **options)
        record = manifest.loads(sink.get(day_manifest_key(sink.prefix, node, day)))
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
            self.task = self.progress.add_task(event.label or "processing", total=event.total, clips=0, rate="-")
        elif self.task is not None:
            rate = event.clips / max(time.perf_counter() - self.t0, 1e-6)
            self.progress.update(self.task, completed=event.done, clips=event.clips, rate=f"{rate:.0f}")

    def __exit__(self, *exc):
        self.progress.stop()
        return False


def _secret(env: str, prompt: str) -> str:
    """From the environment, else a hidden prompt: a secret never goes on a command line (shell history, ps)."""
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        _fail(f"set {env} in the environment (or run in a terminal to be asked for it)")
    return typer.prompt(prompt, hide_input=True)


@app.command()
def blocks(
    bucket: Annotated[Optional[str], typer.Option(help="S3 bucket the app reads from.")] = None,
    folder: Annotated[str, typer.Option(help="Key prefix in the bucket (the app's {prefix}).")] = "",
    endpoint_url: Annotated[Optional[str], typer.Option(help="For S3-compatible stores (MinIO, ...).")] = None,
    region: Annotated[Optional[str], typer.Option(help="AWS region of the bucket.")] = None,
    aws_block: Annotated[str, typer.Option(help="Name to save the AwsCredentials block under.")] = "whaledr-aws",
    s3_block: Annotated[str, typer.Option(help="Name to save the S3Bucket block under.")] = "whaledr-s3",
    firebase_url: Annotated[Optional[str], typer.Option(help="Realtime Database URL, https://<db>.firebaseio.com.")] = None,
    firebase_credential: Annotated[str, typer.Option(help="'secret' (database secret, WHALEDR_FIREBASE_SECRET) or 'token' (OAuth access token, WHALEDR_FIREBASE_TOKEN).")] = "secret",
    firebase_block: Annotated[str, typer.Option(help="Name to save the Firebase block under.")] = "whaledr-firebase",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")] = False,
) -> None:
    """Save the S3 and Firebase blocks a run uses. Secrets come from AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN) and WHALEDR_FIREBASE_SECRET or WHALEDR_FIREBASE_TOKEN,
    or from a hidden prompt; never from the command line."""
    if not bucket and not firebase_url:
        _fail("nothing to save: give --bucket, --firebase-url or both")
    if firebase_credential not in ("secret", "token"):
        _fail("--firebase-credential is 'secret' or 'token'")
    if firebase_url and not firebase_url.startswith(("https://", "http://")):
        _fail(f"--firebase-url must start with https:// (got {firebase_url!r})")
    keys = None
    if bucket:
        keys = (_secret("AWS_ACCESS_KEY_ID", "AWS access key ID"),
                _secret("AWS_SECRET_ACCESS_KEY", "AWS secret access key"), os.environ.get("AWS_SESSION_TOKEN"))
    credential = None
    if firebase_url:
        env = "WHALEDR_FIREBASE_SECRET" if firebase_credential == "secret" else "WHALEDR_FIREBASE_TOKEN"
        credential = _secret(env, f"Firebase database {firebase_credential}")
    _quiet(verbose)
    from .server import prefect_api

    with prefect_api():
        from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

        from .targets import FirebaseDatabase

        if bucket and keys:
            creds = AwsCredentials(aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                                   aws_session_token=keys[2], region_name=region,
                                   aws_client_parameters=AwsClientParameters(endpoint_url=endpoint_url))
            creds.save(aws_block, overwrite=True)
            S3Bucket(bucket_name=bucket, credentials=creds, bucket_folder=folder).save(s3_block, overwrite=True)
            where = f"s3://{bucket}/{folder}" + (f" at {endpoint_url}" if endpoint_url else "")
            typer.echo(f"saved AwsCredentials block {aws_block!r} and S3Bucket block {s3_block!r} ({where})")
        if firebase_url and credential:
            field = "database_secret" if firebase_credential == "secret" else "access_token"
            FirebaseDatabase(database_url=firebase_url, **{field: credential}).save(firebase_block, overwrite=True)
            typer.echo(f"saved Firebase block {firebase_block!r} ({firebase_url}, {firebase_credential})")


@app.command()
def sync(
    out: Annotated[Path, typer.Option(help="Output folder, when no --s3-block.")] = Path("whaledr-out"),
    s3_block: Annotated[Optional[str], typer.Option(help="Saved S3Bucket block holding the clips.")] = None,
    firebase_block: Annotated[Optional[str], typer.Option(help="Saved Firebase block; without it, only the manifest is rebuilt.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")] = False,
) -> None:
    """Rebuild the app manifest from every day manifest, then add missing IDs to the app's database."""
    _quiet(verbose)
    from .server import prefect_api

    with prefect_api():
        from .sync import sync_flow
        from .targets import Target

        _open_blocks(Target(str(out), "", s3_block), firebase_block)
        state = sync_flow(out=str(out), s3_block=s3_block, firebase_block=firebase_block, return_state=True)
    if not state.is_completed():
        _fail(f"sync failed: {state.message}", 1)
    r = state.result()
    db = f"; database: {r['added']} IDs added, {r['already']} already there" if firebase_block else ""
    typer.echo(f"app manifest: {r['manifest_ids']} IDs{db}")


@app.command()
def backfill(
    start: Annotated[str, typer.Argument(help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Argument(help="Last UTC day, YYYY-MM-DD (included).")],
    hydrophone: Annotated[Optional[list[str]], typer.Option(help=HYDROPHONE_HELP + " Repeat for several. [default: LJ01D]")] = None,
    source: Annotated[Optional[str], typer.Option(help="Base URL or local folder of the data. [default: the OOI raw data server]")] = None,
    out: Annotated[Path, typer.Option(help="Output folder, when no --s3-block.")] = Path("whaledr-out"),
    s3_block: Annotated[Optional[str], typer.Option(help="Upload to the bucket of this saved S3Bucket block.")] = None,
    firebase_block: Annotated[Optional[str], typer.Option(help="Then add the new IDs to the app's database through this block.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Render every clip again even where it exists.")] = False,
    deployment: Annotated[Optional[str], typer.Option(help="Run each day as a flow run of this deployment (e.g. whaledr-day/day), spread over its pool's workers, instead of here.")] = None,
    concurrency: Annotated[int, typer.Option(help="Day runs in flight at once, with --deployment.")] = 4,
    dask_address: Annotated[Optional[str], typer.Option(help=DASK_HELP)] = None,
    max_days: Annotated[int, typer.Option(help="Longer ranges need --yes.")] = 0,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm a range longer than --max-days.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")] = False,
) -> None:
    """Process every day from START to END for each hydrophone: here, one day after another, or with
    --deployment as flow runs that a work pool's workers share."""
    from whaledr_core.catalog import DEFAULT_HYDROPHONES, UnknownHydrophone, get_hydrophone
    from whaledr_core.days import MAX_DAYS_WITHOUT_CONFIRMATION, DayRangeError, day_range

    first, last = _date(start), _date(end)
    limit = max_days or MAX_DAYS_WITHOUT_CONFIRMATION
    try:
        nodes = [get_hydrophone(h).node for h in (hydrophone or DEFAULT_HYDROPHONES)]
        days = day_range(first, last, 10**6)
        if len(days) > limit and not yes:
            if not sys.stdin.isatty() or not typer.confirm(f"{len(days)} days x {len(nodes)} hydrophones: go on?"):
                day_range(first, last, limit)  # raises the one-line refusal
    except (UnknownHydrophone, DayRangeError) as e:
        _fail(str(e))
    if concurrency < 1:
        _fail("--concurrency must be at least 1")
    source = _source(source)
    _quiet(verbose)
    from .server import prefect_api

    with prefect_api():
        from whaledr_core import manifest
        from whaledr_core.naming import day_manifest_key

        from .backfill import backfill_flow
        from .progress import listening
        from .targets import Target

        target = Target(str(out), "", s3_block)
        sink = _open_blocks(target, firebase_block)
        if deployment:
            _check_deployment(deployment)
        with _progress_bar() as listener, listening(listener):
            state = backfill_flow(start=first, end=last, hydrophones=nodes, overwrite=overwrite, source=source,
                                  out=str(out), s3_block=s3_block, firebase_block=firebase_block,
                                  dask_address=dask_address, deployment=deployment, concurrency=concurrency,
                                  max_days=len(days), return_state=True)
        for day in days:
            for node in nodes:
                record = manifest.loads(sink.get(day_manifest_key(sink.prefix, node, day)))
                typer.echo(manifest.summary_line(record) if record else f"{node} {day}: no day manifest")
    if not state.is_completed():
        _fail(str(state.message), 1)
    typer.echo(f"{len(days) * len(nodes)} day runs completed")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _check_deployment(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
        except ObjectNotFound:
            _fail(f"no deployment named {name!r} on {client.api_url}: run `prefect deploy --all` from the checkout")


@app.command()
def serve(
    hydrophone: Annotated[Optional[list[str]], typer.Option(help=HYDROPHONE_HELP + " Repeat for several. [default: prefect.yaml's]")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder, when no --s3-block. [default: prefect.yaml's]")] = None,
    s3_block: Annotated[Optional[str], typer.Option(help="Saved S3Bucket block to upload to.")] = None,
    firebase_block: Annotated[Optional[str], typer.Option(help="Saved Firebase block to tell the app.")] = None,
    source: Annotated[Optional[str], typer.Option(help="Base URL or local folder of the data. [default: the OOI raw data server]")] = None,
    port: Annotated[int, typer.Option(help="Port of the Prefect server and UI started when PREFECT_API_URL is not set.")] = 4200,
) -> None:
    """Keep prefect.yaml's deployments (the daily schedule, backfill, day) running from this process,
    with a Prefect server and its UI on 127.0.0.1:PORT unless PREFECT_API_URL names one. Ctrl-C stops."""
    from whaledr_core.catalog import UnknownHydrophone, get_hydrophone

    try:
        nodes = [get_hydrophone(h).node for h in hydrophone] if hydrophone else None
    except UnknownHydrophone as e:
        _fail(str(e))
    overrides: dict = {k: v for k, v in dict(
        hydrophones=nodes, out=str(out) if out else None, s3_block=s3_block, firebase_block=firebase_block,
        source=_source(source) if source else None).items() if v is not None}
    from .server import prefect_server

    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop ends the server too
    with ExitStack() as stack:
        try:
            url = stack.enter_context(prefect_server(port))
        except RuntimeError as e:  # the port is taken, or the server would not start
            _fail(str(e), 1)
        from prefect import serve as prefect_serve

        from .project import served
        from .targets import Target

        _open_blocks(Target(overrides.get("out", "whaledr-out"), "", s3_block), firebase_block)
        typer.echo(f"Prefect UI: {url.removesuffix('/api')}")
        prefect_serve(*served(overrides))


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
    era: Annotated[Optional[str], typer.Option(help="Names and traces of 2015, 2019, 2023 or 2025. [default: 2025, today's server]")] = None,
) -> None:
    """Write a synthetic OOI mirror: serve it with `python -m http.server --directory DIR`."""
    day = _date(date)
    from whaledr_core.catalog import UnknownHydrophone, get_hydrophone
    from whaledr_core.synth import ERAS, SynthOptions, write_day

    if era is not None and era not in ERAS:
        _fail(f"unknown era {era!r}; known: {', '.join(ERAS)}")

    try:
        h = get_hydrophone(hydrophone)
        t = dt.time.fromisoformat(first)
    except (UnknownHydrophone, ValueError) as e:
        _fail(str(e))
    if not 1 <= files <= 288:
        _fail("--files must be 1 to 288")
    written = write_day(directory, h, day, SynthOptions(files=files, first=t, gap_seconds=gap_seconds,
                                                       fragmented=fragmented, truncated=truncated,
                                                       addendum=addendum, seed=seed, **({"era": era} if era else {})))
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
    from whaledr_core.mirror import serve
    from whaledr_core.synth import SynthOptions, write_day

    day, h = dt.date(2019, 1, 12), get_hydrophone("LJ01D")
    mirror, out = directory / "mirror", directory / "out"
    if not (mirror.exists() and any(mirror.rglob("*.mseed"))):
        typer.echo(f"writing a synthetic day of {files} files to {mirror} ...")
        write_day(mirror, h, day, SynthOptions(files=files, gap_seconds=2.5, fragmented=True, addendum=True))
    with serve(mirror) as url:
        typer.echo(f"serving {mirror} at {url}; output to {out}")
        from .targets import Target

        code = _run_day(day, h.node, url, Target(str(out)), None, workers, False, dict(cache=str(directory / "cache")))
    if code == 0:
        typer.echo(f"look at the clips under {out / h.node / day.strftime('%Y_%m_%d')}")
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
