"""Tell the app that samples exist: `/sampleCounts/{id}` = 0 in its Firebase Realtime Database.

The app serves the least-seen samples first, so a new ID starts at 0. Everything else in the database
(existing counts, `/votes`, `/sampleSummary`, `/userSeenSamples`) is the volunteers' work: this module
reads `/sampleCounts` shallowly, then PATCHes only IDs that are absent, in batches, and writes no
other path. It speaks the Realtime Database REST protocol over httpx.

Credentials travel as a query parameter (`auth=` for a database secret, `access_token=` for a Google
OAuth token), as the REST protocol wants; they are never put in an error message or a log line, and
httpx's own request logging (which prints URLs) is silenced here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from .fetch import RetryPolicy

logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the full URL, query and all

COUNTS = "sampleCounts"
DEFAULT_BATCH = 500


class SyncError(RuntimeError):
    """The database could not be read or written; the message never holds the credential."""


class AuthError(SyncError):
    """401/403: a wrong or expired credential, or rules that refuse it. Nothing was written."""


@dataclass(frozen=True)
class Database:
    url: str
    """e.g. https://whaledr-default-rtdb.firebaseio.com"""
    secret: str | None = None
    """A legacy database secret, sent as `auth=`."""
    access_token: str | None = None
    """A Google OAuth2 access token of a service account, sent as `access_token=`."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"database URL must start with https:// (got {self.url!r})")
        if self.secret and self.access_token:
            raise ValueError("give a database secret or an access token, not both")

    def __repr__(self) -> str:  # a dataclass repr would print the credential
        return f"Database(url={self.url!r}, credential={'secret' if self.secret else 'access_token' if self.access_token else 'none'})"

    __str__ = __repr__

    def params(self) -> dict[str, str]:
        if self.secret:
            return {"auth": self.secret}
        if self.access_token:
            return {"access_token": self.access_token}
        return {}


@dataclass(frozen=True)
class SyncReport:
    added: int
    already: int
    requests: int


class _Client:
    def __init__(self, db: Database, retry: RetryPolicy, timeout: float) -> None:
        self.db, self.retry = db, retry
        self.http = httpx.Client(base_url=db.url.rstrip("/"), timeout=timeout)
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, extra: dict[str, str] | None = None, json=None):
        params = {**self.db.params(), **(extra or {})}
        last = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                time.sleep(self.retry.wait(attempt - 1))
            try:
                self.requests += 1
                r = self.http.request(method, f"/{path}.json", params=params, json=json)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__} talking to {self.db.url}"  # the exception text holds the URL
                continue
            if r.status_code in (401, 403):
                raise AuthError(
                    f"{method} /{path}: the database refused the credential (HTTP {r.status_code}); "
                    "check the Firebase block's secret or token and the database rules; nothing was written"
                ) from None
            if r.status_code == 429 or r.status_code >= 500:
                last = f"HTTP {r.status_code}"
                continue
            if r.status_code >= 400:
                raise SyncError(f"{method} /{path}: HTTP {r.status_code}: {_safe(r.text, self.db)}") from None
            return r.json()
        raise SyncError(f"{method} /{path}: gave up after {self.retry.attempts} attempts ({last})") from None


def _safe(text: str, db: Database) -> str:
    for s in (db.secret, db.access_token):
        if s:
            text = text.replace(s, "***")
    return text[:200]


def sync_counts(
    db: Database,
    ids: Iterable[str],
    batch: int = DEFAULT_BATCH,
    retry: RetryPolicy = RetryPolicy(attempts=5),
    timeout: float = 60.0,
) -> SyncReport:
    """Add `/sampleCounts/{id}: 0` for each ID the database lacks; existing counts are left as they are.

    The read comes first, so a refused credential stops the sync before anything is written.
    """
    client = _Client(db, retry, timeout)
    try:
        present = client.call("GET", COUNTS, {"shallow": "true"}) or {}
        wanted = sorted(set(ids))
        new = [sid for sid in wanted if sid not in present]
        for i in range(0, len(new), batch):
            client.call("PATCH", COUNTS, json={sid: 0 for sid in new[i : i + batch]})
        return SyncReport(added=len(new), already=len(wanted) - len(new), requests=client.requests)
    finally:
        client.close()
