"""The app's cumulative manifest: the whole list of sample IDs under a prefix, all days, all hydrophones.

The app's refresh removes database entries missing from this list, so it must only ever grow by
merging, never be replaced by one day's IDs. Runs that finish at the same moment merge through the
sink's compare-and-swap write (an S3 conditional PUT, or a lock on disk) and retry when they lose.
It can always be rebuilt from the per-day manifests, which list only clips whose two objects were
stored.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .manifest import loads
from .naming import APP_MANIFEST_NAME, DAY_MANIFEST_NAME, app_manifest_key, clip_key
from .sinks import Sink


class ManifestConflict(RuntimeError):
    """Other writers kept changing the manifest for every attempt."""


@dataclass(frozen=True)
class ManifestUpdate:
    key: str
    total: int
    added: int
    attempts: int


def day_ids(record: dict[str, Any]) -> list[str]:
    """The IDs a day manifest lists: each one's PNG and WAV were stored before the record was written."""
    return [c["id"] for c in record.get("clips", [])]


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
    key = app_manifest_key(sink.prefix)
    for attempt in range(1, attempts + 1):
        data, version = sink.get_versioned(key)
        current = parse(data)
        new = sorted(set(compute(current)))
        if data is not None and new == current:
            return ManifestUpdate(key, len(new), 0, attempt)
        if sink.put_if(key, dumps(new), "application/json", version):
            return ManifestUpdate(key, len(new), len(set(new) - set(current)), attempt)
        time.sleep(random.uniform(0.05, 0.2) * attempt)  # someone else wrote first: read theirs, merge again
    raise ManifestConflict(f"{key}: still changing after {attempts} attempts")


def merge(sink: Sink, ids: Iterable[str], attempts: int = 30) -> ManifestUpdate:
    """Add `ids` to the app manifest, keeping every ID already there."""
    ids = set(ids)
    return _swap(sink, lambda current: ids.union(current), attempts)


def rebuild(sink: Sink, attempts: int = 30) -> ManifestUpdate:
    """The manifest made again from every day manifest under the prefix, keeping only IDs whose PNG
    and WAV are both stored; IDs in the old manifest but in no day record are dropped."""

    def compute(_current: list[str]) -> set[str]:
        keys = sink.keys(sink.prefix.strip("/") + "/" if sink.prefix.strip("/") else "")
        ids: set[str] = set()
        for key in keys:
            if key.endswith("/" + DAY_MANIFEST_NAME):
                record = loads(sink.get(key))
                if record is not None:
                    ids.update(day_ids(record))
        return {
            sid for sid in ids
            if clip_key(sink.prefix, sid, "png") in keys and clip_key(sink.prefix, sid, "wav") in keys
        }

    return _swap(sink, compute, attempts)
