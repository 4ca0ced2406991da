"""`whaledr synth`: a synthetic OOI mirror, for trying the pipeline with no internet; `whaledr availability`:
what a server (or mirror) holds for a range of days, before asking for them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from whaledr_core.synth import DEFAULT_ERA

from . import options as o
from .local import checked_source, hydrophone_nodes


def synth(
    directory: Annotated[Path, typer.Argument(help="Folder to write the mirror into (the --source base).")],
    date: Annotated[str, typer.Option("--date", help="UTC day, YYYY-MM-DD.")],
    hydrophone: o.Hydrophone = None,
    files: Annotated[int, typer.Option(help="How many 5-minute files (288 is a whole day).")] = 12,
    first: Annotated[str, typer.Option(help="UTC time of the first file, HH:MM.")] = "00:00",
    gap_seconds: Annotated[float, typer.Option(
        help="The second file starts this late (a gap, then irregular starts).")] = 0.0,
    fragmented: Annotated[bool, typer.Option(help="Write the first file as hundreds of jittering fragments.")] = False,
    truncated: Annotated[bool, typer.Option(help="Cut the last file in the middle of a record.")] = False,
    addendum: Annotated[bool, typer.Option(help="Put the last file in the day's addendum/ folder.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    era: Annotated[str, typer.Option(
        help="Names, folders and traces of the server in 2015, 2019, 2023 or 2025 (docs, \"Data from every "
             "era\").")] = DEFAULT_ERA,
    events: Annotated[float | None, typer.Option(
        help="Instead of the demo's signal: sea noise with whale calls at this SNR in dB over the floor, and "
             "ships, hum, clicks and floor rises; their kinds and times go to events-NODE-YYYY_MM_DD.json "
             "beside the mirror.")] = None,
) -> None:
    """Write a synthetic OOI mirror: serve it with `python -m http.server --directory DIR`."""
    day = o.parse_date(date)
    from whaledr_core.catalog import get_hydrophone
    from whaledr_core.synth import ERAS, SynthOptions, write_day

    (node,) = hydrophone_nodes([hydrophone] if hydrophone else None)
    h = get_hydrophone(node)
    try:
        t = dt.time.fromisoformat(first)
    except ValueError as e:
        o.fail(str(e))
    if not 1 <= files <= 288:
        o.fail("--files must be 1 to 288")
    if era not in ERAS:
        o.fail(f"unknown era {era!r}; known: {', '.join(ERAS)}")
    written = write_day(directory, h, day, SynthOptions(files=files, first=t, gap_seconds=gap_seconds,
                                                       fragmented=fragmented, truncated=truncated,
                                                       addendum=addendum, seed=seed, era=era, events_snr=events))
    size = sum(p.stat().st_size for p in written)
    typer.echo(f"wrote {len(written)} files ({size / 1e6:.0f} MB) for {h.node} {day} under {directory}")
    if events is not None:
        from whaledr_core.synth import ground_truth_path

        typer.echo(f"ground truth: {ground_truth_path(directory, h, day)}")


def availability(
    start: Annotated[str, typer.Argument(help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Argument(help="Last UTC day, YYYY-MM-DD (included).")],
    hydrophone: o.Hydrophone = None,
    source: o.Source = None,
    picture: Annotated[Path | None, typer.Option(
        help="Where to write the calendar picture (PNG). [default: whaledr-availability-NODE-START-END.png]")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table: "
                                        '{"hydrophone": NODE, "days": [{"day", "files", "bytes"}, ...]}.')] = False,
) -> None:
    """What the server holds from START to END, read from the day folders' listings only (no download):
    a table per day (files, bytes, the hours the file names start in), and a calendar picture of
    coverage, one row per month. A day without a folder has 0 files; a listing that fails is an error."""
    import json

    from whaledr_core import availability as av
    from whaledr_core.catalog import get_hydrophone
    from whaledr_core.days import DayRangeError, day_range

    first, last = o.parse_date(start), o.parse_date(end)
    try:
        days = day_range(first, last, None)
    except DayRangeError as e:
        o.fail(str(e))
    (node,) = hydrophone_nodes([hydrophone] if hydrophone else None)
    h = get_hydrophone(node)
    source = checked_source(source)
    try:
        surveyed = av.survey(source, h, days)
    except av.ListingFailed as e:
        o.fail(str(e), 1)
    where = source if len(source) < 60 else "..." + source[-57:]
    path = picture or Path(f"whaledr-availability-{node}-{first}-{last}.png")
    path.write_bytes(av.calendar_png(f"{node} ({h.name}) on {where}, {first} to {last}", surveyed))
    if json_:
        typer.echo(json.dumps(av.as_json(node, surveyed)))
        typer.echo(f"calendar: {path}", err=True)
        return
    typer.echo(f"{h.node} ({h.name}), {first} to {last}, listed at {source}:")
    for line in av.table(surveyed):
        typer.echo(line)
    typer.echo(av.summary(node, surveyed))
    typer.echo(f"calendar: {path}")
