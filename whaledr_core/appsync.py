"""Tell the app that samples exist, in its Firebase Realtime Database, in either of two schemas:

- `sampleCounts` (the live app, SwipesForScience commit 2cd319e, src/components/Play.vue and
  Admin.vue): `/sampleCounts/{id} = 0`;
- `samples` (SwipesForScience 2022+, src/composables/gameplay/useSamples.js reads `/samples`, and
  firebase-emulator/fixtures/sample-wordswipe-test/dbSeed.js seeds
  `/samples/{id} = {totalSeenCount: 0, averageVote: 0, ...}`).

The app serves the least-seen samples first, so a new ID starts at 0. Everything else in the database
(existing counts and summaries, `/votes`, `/sampleSummary`, `/userSeenSamples`, `/users`) is the
volunteers' work: this module reads the schema's path shallowly, then PATCHes only IDs that are
absent, in batches, and writes no other path. It speaks the Realtime Database REST protocol over httpx.

Credentials travel as a query parameter (`auth=` for a legacy database secret, `access_token=` for a
Google OAuth2 token, minted and refreshed from a service account by `gauth`), as the REST protocol
wants; they are never put in an error message or a log line, and httpx's own request logging (which
prints URLs) is silenced here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from .app import SCHEMAS
from .fetch import RetryPolicy

logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry the full URL, query and all

COUNTS = "sampleCounts"
DEFAULT_BATCH = 500
DEFAULT_RETRY = RetryPolicy(attempts=5)
NEW_SAMPLE: dict[str, Any] = {"sampleCounts": 0, "samples": {"totalSeenCount": 0, "averageVote": 0}}
"""What a new ID starts as, by schema (the path of the same name)."""
assert set(NEW_SAMPLE) == set(SCHEMAS)


class TokenSource(Protocol):
    """Gives a valid OAuth2 access token on each call, minting a new one when the last one expires."""

    def token(self) -> str: ...


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
    """A Google OAuth2 access token, sent as `access_token=`; it lasts an hour, so prefer `tokens`."""
    tokens: TokenSource | None = None
    """Mints access tokens from a service account as they are needed: what an unattended run uses."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"database URL must start with https:// (got {self.url!r})")
        if sum(x is not None and x != "" for x in (self.secret, self.access_token, self.tokens)) > 1:
            raise ValueError("give one credential: a database secret, an access token or a service account")

    @property
    def credential(self) -> str:
        return ("secret" if self.secret else "access_token" if self.access_token
                else "service_account" if self.tokens else "none")

    def __repr__(self) -> str:  # a dataclass repr would print the credential
        return f"Database(url={self.url!r}, credential={self.credential})"

    __str__ = __repr__

    def params(self) -> dict[str, str]:
        if self.secret:
            return {"auth": self.secret}
        if self.access_token:
            return {"access_token": self.access_token}
        if self.tokens is not None:
            return {"access_token": self.tokens.token()}
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
        last = ""
        for attempt in range(self.retry.attempts):
            if attempt:
                time.sleep(self.retry.wait(attempt - 1))
            try:
                params = {**self.db.params(), **(extra or {})}  # a token source may mint a fresh token
            except Exception as e:  # google-auth's errors may quote the token endpoint's answer, never the key
                raise AuthError(f"could not get an access token for the service account: {type(e).__name__}; "
                                "check the GcpCredentials block and its token_uri; nothing was written") from None
            try:
                self.requests += 1
                r = self.http.request(method, f"/{path}.json", params=params, json=json)
            except httpx.HTTPError as e:
                last = f"{type(e).__name__} talking to {self.db.url}"  # the exception text holds the URL
                continue
            if r.status_code in (401, 403):
                raise AuthError(
                    f"{method} /{path}: the database refused the credential (HTTP {r.status_code}); "
                    "check the block's credential and the database rules; nothing was written"
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
    schema: str = COUNTS,
    batch: int = DEFAULT_BATCH,
    retry: RetryPolicy = DEFAULT_RETRY,
    timeout: float = 60.0,
) -> SyncReport:
    """Add each ID the database lacks under the schema's path (`/sampleCounts/{id}: 0`, or
    `/samples/{id}: {totalSeenCount: 0, averageVote: 0}`); existing entries are left as they are.

    The read comes first, so a refused credential stops the sync before anything is written.
    """
    if schema not in NEW_SAMPLE:
        raise ValueError(f"database schema must be one of {', '.join(NEW_SAMPLE)} (got {schema!r})")
    client = _Client(db, retry, timeout)
    try:
        present = client.call("GET", schema, {"shallow": "true"}) or {}
        wanted = sorted(set(ids))
        new = [sid for sid in wanted if sid not in present]
        for i in range(0, len(new), batch):
            client.call("PATCH", schema, json={sid: NEW_SAMPLE[schema] for sid in new[i : i + batch]})
        return SyncReport(added=len(new), already=len(wanted) - len(new), requests=client.requests)
    finally:
        client.close()
