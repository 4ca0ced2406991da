"""`whaledr sync` (the app's side alone, over everything stored) and `whaledr check-app` (the app,
loaded as a browser loads it)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from whaledr_core.app import LIVE

from . import options as o
from .local import open_blocks, quiet, where_to


def sync(
    out: o.Out = o.DEFAULT_OUT,
    s3_block: o.S3Block = None,
    firebase_block: o.FirebaseBlock = None,
    app: o.AppBlock = None,
    prune_legacy: Annotated[bool, typer.Option(
        help="Drop manifest IDs that no day manifest covers (samples made before this pipeline).")] = False,
    verbose: o.Verbose = False,
) -> None:
    """Rebuild the app manifest from every day manifest, keeping older samples, then add missing IDs to
    the app's database."""
    quiet(verbose)
    from ..server import prefect_api

    output, app_group = where_to(out, s3_block, app, firebase_block)
    with prefect_api():
        from ..sync import sync_flow

        open_blocks(output, app_group)
        state = sync_flow(output=output, app=app_group, prune_legacy=prune_legacy, return_state=True)
    if not state.is_completed():
        o.fail(f"sync failed: {state.message}", 1)
    r = state.result()
    db = f"; database: {r['added']} IDs added, {r['already']} already there" if firebase_block or app else ""
    typer.echo(f"app manifest: {r['manifest_ids']} IDs{db}")


def check_app(
    app_block: Annotated[str | None, typer.Option(
        "--app", help="Saved whaledr App block. [default: the live app's config]")] = None,
    sample: Annotated[int | None, typer.Option(help="Check N random samples instead of all.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed for --sample.")] = None,
    origin: Annotated[str | None, typer.Option(help="The app's origin for CORS. [default: the block's]")] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight.")] = 16,
    verbose: o.Verbose = False,
) -> None:
    """Load the app as a browser does: its manifest anonymously, then each sample's image and sound
    built with the app's own URL rule; print a table of every URL that does not answer 200 with the
    right content type and a CORS header for the app's origin. Exit 1 if any fails."""
    from whaledr_core.appcheck import check_app as run_check
    from whaledr_core.appcheck import table

    if sample is not None and sample < 1:
        o.fail("--sample must be at least 1")
    config = LIVE
    if app_block:
        quiet(verbose)
        from ..server import prefect_api

        with prefect_api():
            from ..app import load_app
            from ..targets import BlockMissing

            try:
                config = load_app(app_block).config()
            except BlockMissing as e:
                o.fail(str(e))
    if origin:
        config = dataclasses.replace(config, origin=origin)
    result = run_check(config, sample=sample, seed=seed, concurrency=concurrency)
    if result.failures:
        typer.echo(table(result))
    checked = f"{result.checked} of {result.manifest_ids} samples" if result.manifest_ids else "the manifest"
    bad = {f.sample for f in result.failures}
    summary = f"{config.manifest_url}: {checked} checked from {config.origin}, {len(bad)} failing"
    if result.ok:
        typer.echo(summary)
        return
    typer.secho(summary, fg="red", err=True)
    raise typer.Exit(1)
