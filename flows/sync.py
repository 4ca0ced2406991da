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
from .app import check_target, sync_database
from .targets import Target


@flow(name="whaledr-sync")
def sync_flow(
    out: str = "whaledr-out",
    prefix: str = "",
    s3_block: str | None = None,
    firebase_block: str | None = None,
    app_block: str | None = None,
    prune_legacy: bool = False,
) -> dict:
    target = Target(out, prefix, s3_block)
    if app_block:
        if firebase_block:
            raise ValueError("give an app block or a Firebase block, not both: the app block holds the database")
        check_target(app_block, target, RenderSettings())  # the manifest and today's clips are where the app looks
    ids = tasks.rebuild_app_manifest(target, prune_legacy)
    report = None
    if firebase_block:
        report = tasks.sync_app(firebase_block, ids)
    elif app_block:
        report = sync_database(app_block, ids)
    return {"manifest_ids": len(ids), "added": report.added if report else None,
            "already": report.already if report else None}
