"""The app's cumulative manifest: the whole list of sample IDs under a prefix, all days, all hydrophones.

The app's refresh removes database entries missing from this list, so it must only ever grow by
merging, never be replaced by one day's IDs. Runs that finish at the same moment merge through the
sink's compare-and-swap write (an S3 conditional PUT, or a lock on disk) and retry when they lose.
It can be rebuilt from the per-day manifests, which list only clips whose two objects were stored.

The live manifest also lists samples made before this pipeline (`LJ01A___...`/`LJ01C___...` IDs of
days we never processed, and older IDs without `___` at all), and volunteers' counts hang on them:
a rebuild keeps every ID of the current manifest whose node and day no day manifest covers, unless
told to prune them.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .daymanifest import loads
from .naming import APP_MANIFEST_NAME, DAY_MANIFEST_NAME, ID_SEPARATOR, app_manifest_key, clip_key
from .render import IMAGE_FORMATS
from .sinks import Sink


class ManifestConflict(RuntimeError):
    """Other writers kept changing the manifest for every attempt."""


@dataclass(frozen=True)
class ManifestUpdate:
    key: str
    total: int
    added: int
    attempts: int
    kept: int = 0
    """IDs kept although no day manifest of this pipeline covers them (older samples)."""


def day_ids(record: dict[str, Any]) -> list[str]:
    """The published IDs a day manifest lists: each one's image and WAV were stored before the record was
    written. A clip stored but below the day's budget is not the app's (a manifest made before budgets
    existed published every clip)."""
    return [c["id"] for c in record.get("clips", []) if c.get("published", True)]


def image_extension(record: dict[str, Any]) -> str:
    """The extension of a day's images, from the settings its manifest records (PNG before JPEG existed)."""
    fmt = record.get("settings", {}).get("render", {}).get("image_format", "png")
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"day manifest of {record.get('date')} names an unknown image format {fmt!r}")
    return IMAGE_FORMATS[fmt].extension


def node_day(sid: str) -> tuple[str, str] | None:
    """(node, YYYY_MM_DD) of an ID of the form `{node}___{day}___{stem}`; None for older forms."""
    parts = sid.split(ID_SEPARATOR)
    return (parts[0], parts[1]) if len(parts) == 3 else None


def parse(data: bytes | None) -> list[str]:
    if not data:
        return []
    ids = json.loads(data)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"{APP_MANIFEST_NAME} is not a JSON list of sample IDs")
    return ids


def dumps(ids: Iterable[str]) -> bytes:
    return json.dumps(sorted(set(ids)), separators=(",", ":")).encode()


def _swap(sink: Sink, compute, attempts: int) -> ManifestUpdate:
    """`compute(current)` gives the new IDs and how many of them were kept as older samples."""
    key = app_manifest_key(sink.prefix)
    for attempt in range(1, attempts + 1):
        data, version = sink.get_versioned(key)
        current = parse(data)
        wanted, kept = compute(current)
        new = sorted(set(wanted))
        if data is not None and new == current:
            return ManifestUpdate(key, len(new), 0, attempt, kept)
        if sink.put_if(key, dumps(new), "application/json", version):
            return ManifestUpdate(key, len(new), len(set(new) - set(current)), attempt, kept)
        time.sleep(random.uniform(0.05, 0.2) * attempt)  # someone else wrote first: read theirs, merge again
    raise ManifestConflict(f"{key}: still changing after {attempts} attempts")


def merge(sink: Sink, ids: Iterable[str], attempts: int = 30) -> ManifestUpdate:
    """Add `ids` to the app manifest, keeping every ID already there."""
    ids = set(ids)
    return _swap(sink, lambda current: (ids.union(current), len(set(current) - ids)), attempts)


def rebuild(sink: Sink, prune_legacy: bool = False, attempts: int = 30) -> ManifestUpdate:
    """The manifest made again from every day manifest under the prefix.

    For a node and day that a day manifest covers, that record decides: its IDs whose image and WAV
    are both stored, nothing else. Every other ID of the current manifest (older samples, days made
    elsewhere) is kept, unless `prune_legacy`.
    """
    root = sink.prefix.strip("/")

    def compute(current: list[str]) -> tuple[set[str], int]:
        keys = sink.keys(root + "/" if root else "")
        ids: set[str] = set()
        covered: set[tuple[str, str]] = set()
        for key in keys:
            if not key.endswith("/" + DAY_MANIFEST_NAME):
                continue
            parts = key[len(root) + 1 if root else 0 :].split("/")
            record = loads(sink.get(key))
            if len(parts) != 3 or record is None:
                continue
            covered.add((parts[0], parts[1]))
            ext = image_extension(record)
            ids.update(
                sid for sid in day_ids(record)
                if clip_key(sink.prefix, sid, ext) in keys and clip_key(sink.prefix, sid, "wav") in keys
            )
        kept = set() if prune_legacy else {sid for sid in current if node_day(sid) not in covered} - ids
        return ids | kept, len(kept)

    return _swap(sink, compute, attempts)
