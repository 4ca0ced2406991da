"""`whaledr run` (one day) and `whaledr demo` (one synthetic day, served on loopback)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from whaledr_core.clips import ClipSettings
from whaledr_core.render import PRESETS, RenderSettings

from . import options as o
from .local import checked_source, hydrophone_nodes, run_day

_C, _R = ClipSettings(), RenderSettings()  # the defaults of how clips are cut and look, in one place


def run(
    date: Annotated[str, typer.Argument(help="UTC day to process, YYYY-MM-DD.")],
    hydrophone: o.Hydrophone = None,
    source: o.Source = None,
    out: o.Out = o.DEFAULT_OUT,
    s3_block: o.S3Block = None,
    firebase_block: o.FirebaseBlock = None,
    app: o.AppBlock = None,
    upload_concurrency: o.UploadConcurrency = o.DEFAULT_UPLOADS,
    public_read: o.PublicRead = False,
    cache_control: o.CacheControl = None,
    clip_seconds: Annotated[int, typer.Option(help="Clip length in seconds; must divide a day.")] = _C.clip_seconds,
    workers: o.Workers = None,
    task_runner: o.TaskRunner = o.DEFAULT_TASK_RUNNER,
    overwrite: o.Overwrite = False,
    cache: o.Cache = None,
    keep_downloads: Annotated[bool, typer.Option(help="Keep a finished day's downloads in the cache.")] = False,
    preset: o.Preset = "default",
    nfft: Annotated[int | None, typer.Option(help=f"FFT length (default: the preset's, {_R.nfft}).")] = None,
    overlap: Annotated[float | None, typer.Option(
        help=f"FFT window overlap, 0-1 (default: the preset's, {_R.overlap:g}).")] = None,
    band: Annotated[str | None, typer.Option(
        help=f"Frequency band shown, Hz, LOW,HIGH (default: the preset's, {_R.fmin:g},{_R.fmax:g}).")] = None,
    cmap: Annotated[str, typer.Option(help="Matplotlib colour map.")] = _R.cmap,
    percentiles: Annotated[str, typer.Option(
        help="Contrast from this clip's dB percentiles LOW,HIGH.")] = f"{_R.db_low:g},{_R.db_high:g}",
    db_range: Annotated[str | None, typer.Option(
        help="Fixed contrast in dB, LOW,HIGH (instead of percentiles).")] = None,
    contrast: Annotated[str | None, typer.Option(
        help="clip: from --percentiles or --db-range; floor: 0-24 dB over the file's noise floor per "
             "frequency, so calls stand out on an even background (default: the preset's, clip).")] = None,
    size: Annotated[str, typer.Option(help="Whole image in pixels, axes included, WIDTHxHEIGHT (the app shows "
                                           "a square).")] = f"{_R.width}x{_R.height}",
    image_format: Annotated[str, typer.Option(
        help="jpeg (the live app's .jpg) or png; the key's extension follows it.")] = _R.image_format,
    axes: Annotated[bool, typer.Option(help="Labelled time and frequency axes around the plot.")] = _R.axes,
    wav: Annotated[str, typer.Option(help="int16 (mean removed, peak-normalised) or int32-raw (counts).")] = _R.wav,
    audio_rate: Annotated[int | None, typer.Option(
        help="Resample the WAV to this rate in Hz, e.g. 16000 for phones. [default: the source's]")] = None,
    publish: o.Publish = o.DEFAULT_PUBLISH,
    store: o.Store = o.DEFAULT_STORE,
    dask_address: o.DaskAddress = None,
    verbose: o.Verbose = False,
) -> None:
    """Process one day of one hydrophone into clips, in a local folder or an S3 bucket."""
    day = o.parse_date(date)
    from ..params import App, Downloads, Output, Rendering, Selection

    (node,) = hydrophone_nodes([hydrophone] if hydrophone else None)
    fmin, fmax = o.parse_pair(band, "--band") if band is not None else (None, None)
    width, height = o.parse_size(size)
    policy: str | None
    policy, (lo, hi) = ("fixed", o.parse_pair(db_range, "--db-range")) if db_range \
        else (None, o.parse_pair(percentiles, "--percentiles"))
    if contrast not in (None, "clip", "floor"):
        o.fail(f"--contrast takes clip or floor (got {contrast!r})")
    if contrast == "clip" and policy is None:
        policy = "percentile"
    if contrast == "floor":
        if db_range:
            o.fail("--contrast floor has its own range; drop --db-range")
        policy = "floor"
    if workers is not None and workers < 1:
        o.fail("--workers must be at least 1")
    if preset not in PRESETS:
        o.fail(f"--preset takes {' or '.join(PRESETS)} (got {preset!r})")
    runner = o.task_runner(task_runner)
    try:  # every setting is checked here, so that a mistake costs a line, not a started run
        rendering = Rendering(clip_seconds=clip_seconds, preset=preset, nfft=nfft, overlap=overlap, fmin=fmin,
                              fmax=fmax, cmap=cmap, db_policy=policy, db_low=lo, db_high=hi, width=width, height=height,
                              axes=axes, wav=wav, image_format=image_format, audio_rate=audio_rate)
        output = Output(folder=str(out), s3_block=s3_block, upload_concurrency=upload_concurrency,
                        public_read=public_read, cache_control=cache_control)
        app_group = App(block=app, firebase_block=firebase_block)
        selection = Selection(publish=publish, store=store)
    except ValueError as e:  # pydantic's ValidationError is one too
        o.fail(o.one_line(e))
    source = checked_source(source)
    downloads = Downloads(cache=str(cache) if cache else None, keep=keep_downloads)
    raise typer.Exit(run_day(day, node, source, output, app_group, downloads, rendering, selection, overwrite,
                             dask_address, workers, verbose, runner))


def demo(
    directory: Annotated[Path, typer.Option(help="Where the mirror and the output go.")] = Path("whaledr-demo"),
    files: Annotated[int, typer.Option(help="5-minute files in the demo day.")] = 6,
    workers: o.Workers = None,
) -> None:
    """The whole pipeline with no internet: a synthetic day served over loopback HTTP, to a local folder."""
    from whaledr_core.catalog import DEFAULT_HYDROPHONES, get_hydrophone
    from whaledr_core.mirror import serve
    from whaledr_core.synth import SynthOptions, write_day

    from ..params import App, Downloads, Output, Rendering, Selection

    day, h = dt.date(2019, 1, 12), get_hydrophone(DEFAULT_HYDROPHONES[0])
    mirror, out = directory / "mirror", directory / "out"
    if not (mirror.exists() and any(mirror.rglob("*.mseed"))):
        typer.echo(f"writing a synthetic day of {files} files to {mirror} ...")
        write_day(mirror, h, day, SynthOptions(files=files, gap_seconds=2.5, fragmented=True, addendum=True))
    with serve(mirror) as url:
        typer.echo(f"serving {mirror} at {url}; output to {out}")
        code = run_day(day, h.node, url, Output(folder=str(out)), App(), Downloads(cache=str(directory / "cache")),
                       Rendering(), Selection(), False, None, workers, False)
    if code == 0:
        typer.echo(f"look at the clips under {out / h.node / day.strftime('%Y_%m_%d')}")
    raise typer.Exit(code)
