"""Where clips go: a key -> bytes store with the app's key layout.

Every sink promises the same two things: a key that exists is complete (no half-written object is
ever visible), and it can say cheaply which keys under a prefix exist, so that a rerun renders only
what is missing.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Protocol


class Sink(Protocol):
    prefix: str

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def keys(self, prefix: str) -> set[str]:
        """Complete keys under `prefix` (a folder-like prefix ending in `/`)."""
        ...


class LocalSink:
    """Keys as paths under a folder; writes go to a hidden temporary file, then an atomic rename."""

    def __init__(self, root: str | Path, prefix: str = "") -> None:
        self.root = Path(root).resolve()
        self.prefix = prefix
        self._made: set[Path] = set()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"key {key!r} escapes the output folder")
        return path

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def keys(self, prefix: str) -> set[str]:
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not folder.is_dir():
            return set()
        base = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        return {base + e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")}


def open_sink(target: str, prefix: str = "") -> Sink:
    """A sink from a target string; a plain path is a local folder (S3 plugs in here)."""
    if target.startswith("file://"):
        target = target[len("file://") :]
    return LocalSink(target, prefix)
