"""The app's side alone: rebuild the cumulative manifest from the day manifests, then sync the database.

For when a day run could not reach the app, the manifest was damaged, or a new database needs every
sample: the same two steps the day flow ends with, over everything stored under the prefix.
"""

from __future__ import annotations

from prefect import flow

from . import tasks
from .targets import Target


@flow(name="whaledr-sync")
def sync_flow(
    out: str = "whaledr-out",
    prefix: str = "",
    s3_block: str | None = None,
    firebase_block: str | None = None,
) -> dict:
    target = Target(out, prefix, s3_block)
    ids = tasks.rebuild_app_manifest(target)
    report = tasks.sync_app(firebase_block, ids) if firebase_block else None
    return {"manifest_ids": len(ids), "added": report.added if report else None,
            "already": report.already if report else None}
