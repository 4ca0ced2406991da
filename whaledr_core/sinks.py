"""Where clips go: a key -> bytes store with the app's key layout.

Every sink promises the same things: a key that exists is complete (no half-written object is ever
visible); it can say cheaply which keys under a prefix exist and how big they are, so that a rerun
renders only what is missing; and it offers a compare-and-swap write, so that two runs updating the
same shared object (the app's manifest) never lose each other's changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, Protocol

DEFAULT_UPLOAD_CONCURRENCY = 16
"""Parallel PUTs per worker process: enough to hide ~50 ms round trips behind ~15 ms of rendering
per clip, few enough to stay clear of S3's per-prefix request rates with several workers."""


class Sink(Protocol):
    prefix: str
    concurrency: int
    """How many puts may run at once: 1 for a disk, more for a store behind a network."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def keys(self, prefix: str) -> dict[str, int]:
        """Complete keys under `prefix` (a folder-like prefix ending in `/`) and their sizes."""
        ...

    def get_versioned(self, key: str) -> tuple[bytes | None, str | None]:
        """The object and a version token for `put_if`; (None, None) when it does not exist."""
        ...

    def put_if(self, key: str, data: bytes, content_type: str, version: str | None) -> bool:
        """Write only if the object is still at `version` (None: still absent); False if it moved on."""
        ...


class LocalSink:
    """Keys as paths under a folder; writes go to a hidden temporary file, then an atomic rename."""

    concurrency = 1

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

    def keys(self, prefix: str) -> dict[str, int]:
        """Like an S3 listing: every key below, at any depth; hidden (temporary) files are not keys."""
        folder = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        out: dict[str, int] = {}
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else rel + "/"
            for name in filenames:
                if not name.startswith("."):
                    out[base + name] = os.stat(os.path.join(dirpath, name)).st_size
        return out

    def get_versioned(self, key: str) -> tuple[bytes | None, str | None]:
        data = self.get(key)
        return data, None if data is None else hashlib.sha256(data).hexdigest()

    def put_if(self, key: str, data: bytes, content_type: str, version: str | None) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # the lock is taken on the folder itself: a lock file would sit in the published tree for good
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)  # the check and the write, as one step for every writer
            if self.get_versioned(key)[1] != version:
                return False
            self.put(key, data, content_type)
            return True
        finally:
            os.close(folder)  # closing the last descriptor releases the lock


class S3Sink:
    """Keys as objects in an S3 (or S3-compatible) bucket.

    A PUT is atomic in S3, so a key that exists is complete. Throttling (SlowDown, 503), 5xx answers
    and dropped connections are retried by botocore's standard retry mode with backoff.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
        public_read: bool = False,
        cache_control: str | None = None,
    ) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")
        self.concurrency = max(1, concurrency)
        self._extra: dict[str, str] = {}
        if public_read:
            self._extra["ACL"] = "public-read"
        if cache_control:
            self._extra["CacheControl"] = cache_control

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.put_with(key, data, content_type, {})

    def get(self, key: str) -> bytes | None:
        return self.get_versioned(key)[0]

    def keys(self, prefix: str) -> dict[str, int]:
        out: dict[str, int] = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj["Size"]
        return out

    def get_versioned(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None, None
        return obj["Body"].read(), obj["ETag"]

    def put_if(self, key: str, data: bytes, content_type: str, version: str | None) -> bool:
        # a shared object that changes: caches must ask again, whatever the clips' cache policy
        condition = {"IfMatch": version} if version is not None else {"IfNoneMatch": "*"}
        condition["CacheControl"] = "no-cache"
        try:
            self.put_with(key, data, content_type, condition)
        except self.client.exceptions.ClientError as e:
            # A lost race, whatever the store says: 412 for a changed ETag or an existing key; 409 for a
            # concurrent write; a key deleted since it was read is 404 NoSuchKey on AWS ("Conditional write
            # behavior" in the S3 User Guide) and moto, 412 on SeaweedFS. The caller reads again and retries.
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (409, 412) or e.response.get("Error", {}).get("Code") in (
                "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey",
            ):
                return False
            raise
        return True

    def put_with(self, key: str, data: bytes, content_type: str, extra: dict[str, str]) -> None:
        params = {**self._extra, **extra}
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **params)


def s3_client(session: Any, endpoint_url: str | None, concurrency: int, attempts: int = 10) -> Any:
    """An S3 client whose connection pool matches the upload concurrency and that retries with backoff."""
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": attempts, "mode": "standard"},
        max_pool_connections=max(10, concurrency),
        connect_timeout=10,
        read_timeout=60,
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


def open_sink(target: str, prefix: str = "") -> Sink:
    """A local folder sink from a path or `file://` URL (S3 sinks are built from a Prefect block)."""
    if target.startswith("file://"):
        target = target[len("file://") :]
    return LocalSink(target, prefix)

