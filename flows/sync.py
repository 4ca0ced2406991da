"""The app's side alone: rebuild the cumulative manifest from the day manifests, then sync the database.

For when a day run could not reach the app, the manifest was damaged, or a new database needs every
sample: the same two steps the day flow ends with, over everything stored under the prefix. IDs of the
current manifest that no day manifest covers (samples made before this pipeline) are kept unless
`prune_legacy` is set.
"""

from __future__ import annotations

from prefect import flow

from whaledr_core.render import RenderSettings

from . import tasks
from .app import check_target
from .failures import one_line_failures
from .params import App, Output


@flow(name="whaledr-sync")
@one_line_failures
def sync_flow(output: Output = Output(), app: App = App(), prune_legacy: bool = False) -> dict:
    """Rebuild the app manifest from every day manifest under the output, then add the IDs the
    app's database lacks.

    Args:
        output: Where the clips and day manifests are: a folder, or a saved S3 block.
        app: Which app to tell; without a block, only the manifest is rebuilt.
        prune_legacy: Drop manifest IDs that no day manifest covers (samples made before this
            pipeline); by default they are kept, or the app's next Refresh would retire them.
    """
    if app.block:  # the manifest and today's clips are where the app looks
        check_target(app.block, output, RenderSettings())
    ids = tasks.rebuild_app_manifest(output, prune_legacy)
    report = tasks.sync_app(app, ids) if app.block or app.firebase_block else None
    return {"manifest_ids": len(ids), "added": report.added if report else None,
            "already": report.already if report else None}
