"""`whaledr overview`: the day overview made again from a stored day."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Annotated

import typer

from . import options as o
from .local import checked_source, hydrophone_nodes


def overview(
    date: Annotated[str, typer.Argument(help="UTC day, YYYY-MM-DD, that a run stored.")],
    hydrophone: o.Hydrophone = None,
    source: o.Source = None,
    out: o.Out = o.DEFAULT_OUT,
    s3_block: o.S3Block = None,
    cache: o.Cache = None,
    workers: o.Workers = None,
) -> None:
    """Make {node}/{YYYY_MM_DD}/overview.png again from the day manifest and the day's files: the
    columns are computed again from the files (nothing encoded, nothing stored), the scores and
    published marks come from the manifest."""
    day = o.parse_date(date)
    from whaledr_core import daymanifest
    from whaledr_core.dayoverview import NothingToDraw, remake
    from whaledr_core.fetch import default_cache

    from ..params import Output

    (node,) = hydrophone_nodes([hydrophone] if hydrophone else None)
    try:
        output = Output(folder=str(out), s3_block=s3_block)
    except ValueError as e:
        o.fail(o.one_line(e))
    with _api(s3_block):
        sink = output.open()
        record = daymanifest.read(sink, node, day)
        if record is None:
            o.fail(f"no day manifest for {node} {day} in {output.describe()}: run the day first", 1)
        source = checked_source(source or record["source"])
        try:
            png, missing = remake(record, source, cache or default_cache(), workers)
        except NothingToDraw as e:
            o.fail(str(e), 1)
        key = daymanifest.overview_key(sink.prefix, node, day)
        sink.put(key, png, "image/png")
    if missing:
        typer.secho(f"whaledr: {len(missing)} files could not be read again; their windows are blank: "
                    + ", ".join(missing), fg="yellow", err=True)
    typer.echo(f"{key} ({len(png) / 1e3:.0f} kB) in {output.describe()}")


def _api(s3_block: str | None):
    """An S3 block is read from the Prefect server; a folder needs none."""
    if not s3_block:
        return nullcontext()
    from ..server import prefect_api

    return prefect_api()
