"""The app's side alone: rebuild the cumulative manifest from the day manifests, then sync the database.

For when a day run could not reach the app, the manifest was damaged, or a new database needs every
sample: the same two steps the day flow ends with, over everything stored under the prefix.
"""

from __future__ import annotations

from prefect import flow

from . import tasks
from .params import App, Output


@flow(name="whaledr-sync")
def sync_flow(output: Output = Output(), app: App = App()) -> dict:
    """Rebuild the app manifest from every day manifest under the output, then add the IDs the
    app's database lacks.

    Args:
        output: Where the clips and day manifests are: a folder, or a saved S3 block.
        app: Which app database to tell; without a block, only the manifest is rebuilt.
    """
    ids = tasks.rebuild_app_manifest(output)
    report = tasks.sync_app(app.firebase_block, ids) if app.firebase_block else None
    return {"manifest_ids": len(ids), "added": report.added if report else None,
            "already": report.already if report else None}
