"""`whaledr sync`: the app's side alone, over everything stored."""

from __future__ import annotations

import typer

from . import options as o
from .local import open_blocks, quiet


def sync(
    out: o.Out = o.DEFAULT_OUT,
    s3_block: o.S3Block = None,
    firebase_block: o.FirebaseBlock = None,
    verbose: o.Verbose = False,
) -> None:
    """Rebuild the app manifest from every day manifest, then add missing IDs to the app's database."""
    quiet(verbose)
    from ..params import App, Output
    from ..server import prefect_api

    output, app = Output(folder=str(out), s3_block=s3_block), App(firebase_block=firebase_block)
    with prefect_api():
        from ..sync import sync_flow

        open_blocks(output, app)
        state = sync_flow(output=output, app=app, return_state=True)
    if not state.is_completed():
        o.fail(f"sync failed: {state.message}", 1)
    r = state.result()
    db = f"; database: {r['added']} IDs added, {r['already']} already there" if firebase_block else ""
    typer.echo(f"app manifest: {r['manifest_ids']} IDs{db}")
