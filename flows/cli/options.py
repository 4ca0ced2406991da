"""Options shared by several commands, declared once, and the small parsers they need.

A mistake on the command line costs one red line and exit code 2, before any server starts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from whaledr_core.catalog import DEFAULT_HYDROPHONES
from whaledr_core.render import PRESETS
from whaledr_core.sinks import DEFAULT_UPLOAD_CONCURRENCY

from ..params import SAFE_BUDGET, Selection

HYDROPHONE_HELP = "Node (LJ01D), reference designator or instrument code of a broadband hydrophone."

Hydrophone = Annotated[str | None, typer.Option(help=f"{HYDROPHONE_HELP} [default: {DEFAULT_HYDROPHONES[0]}]")]
Hydrophones = Annotated[list[str] | None, typer.Option(
    "--hydrophone", help=f"{HYDROPHONE_HELP} Repeat for several. [default: {', '.join(DEFAULT_HYDROPHONES)}]")]
Source = Annotated[str | None, typer.Option(
    help="Base URL or local folder holding {site}/{node}/{instrument}/YYYY/MM/DD/. [default: the OOI raw data server]")]
Out = Annotated[Path, typer.Option(help="Output folder, when no --s3-block; clips land under {node}/{YYYY_MM_DD}/.")]
S3Block = Annotated[str | None, typer.Option(
    help="Upload to the bucket of this saved S3Bucket block instead of --out (see `whaledr blocks`).")]
FirebaseBlock = Annotated[str | None, typer.Option(
    help="Then add the new IDs to the app's Realtime Database through this saved block.")]
AppBlock = Annotated[str | None, typer.Option(
    "--app", help="Saved whaledr App block (`whaledr app-block`): keys are checked against its templates before "
                  "any work, and new IDs go to its database in its schema.")]
UploadConcurrency = Annotated[int, typer.Option(help="Parallel uploads per worker process.")]
PublicRead = Annotated[bool, typer.Option(help="Upload with the public-read ACL (for buckets that use ACLs).")]
CacheControl = Annotated[str | None, typer.Option(
    help="Cache-Control header for clips, e.g. 'public, max-age=31536000, immutable'.")]
Overwrite = Annotated[bool, typer.Option(help="Render every clip again even where it exists.")]
DaskAddress = Annotated[str | None, typer.Option(
    help="Process files on this running Dask cluster (tcp://host:8786) instead of local processes; "
         "its workers need whaledr installed and PREFECT_API_URL set.")]
_SELECTION = Selection.model_fields
PUBLISH_HELP = f"{_SELECTION['publish'].description} docs, \"Which clips reach volunteers\"."
STORE_HELP = str(_SELECTION["store"].description)
Publish = Annotated[str, typer.Option(help=PUBLISH_HELP)]
Store = Annotated[str, typer.Option(help=STORE_HELP)]
Preset = Annotated[str, typer.Option(
    help=f"How clips look to start from: {' or '.join(PRESETS)}; low shows 10-500 Hz with 3.9 Hz rows and contrast "
         "over the floor, so that fin and blue whale calls can be seen (docs, \"Low-frequency calls\"). "
         "--nfft, --overlap, --band and --contrast given besides it win.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's own log lines.")]
Workers = Annotated[int | None, typer.Option(help="Worker processes. [default: CPU count]")]
Cache = Annotated[Path | None, typer.Option(help="Download cache. [default: ~/.cache/whaledr]")]

DEFAULT_OUT = Path("whaledr-out")
DEFAULT_PUBLISH, DEFAULT_STORE = Selection().publish, Selection().store
MANY_DAYS_PUBLISH = SAFE_BUDGET
"""`whaledr backfill`'s budget, the backfill deployment's: the terminal and the UI ask the same of each day
and share its day runs. `whaledr run` (one day, by hand) keeps `all`."""
DEFAULT_UPLOADS = DEFAULT_UPLOAD_CONCURRENCY


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"whaledr: {message}", fg="red", err=True)
    raise typer.Exit(code)


OPTION_OF_FIELD = {"fmin": "--band", "fmax": "--band", "db_policy": "--contrast", "db_low": "--percentiles/--db-range",
                   "db_high": "--percentiles/--db-range", "width": "--size", "height": "--size", "folder": "--out",
                   "block": "--app", "concurrency": "--concurrency", "keep": "--keep-downloads"}
"""Fields of the flows' parameter groups whose option has another name."""


def one_line(e: Exception) -> str:
    """A pydantic error in the words of the option it came from; any other error as it is."""
    if isinstance(e, ValidationError):
        first = e.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:
            return message
        field = str(first["loc"][-1])
        return f"{OPTION_OF_FIELD.get(field, '--' + field.replace('_', '-'))}: {message}"
    return str(e)


def parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"invalid date {value!r}: use YYYY-MM-DD")


def parse_pair(value: str, what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in value.split(","))
    except ValueError:
        fail(f"{what} takes two numbers, LOW,HIGH (got {value!r})")
    return lo, hi


def parse_size(value: str) -> tuple[int, int]:
    try:
        width, height = (int(x) for x in value.lower().split("x"))
    except ValueError:
        fail(f"--size takes WIDTHxHEIGHT (got {value!r})")
    return width, height
