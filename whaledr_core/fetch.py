"""Downloads from the OOI server into a local cache: streamed, retried, resumed, verified, atomic.

The server drops connections and throttles; a 40 MB file must not be fetched twice, and no half file
may ever be mistaken for a whole one. So a download grows in `NAME.part`, resumes from there with a
Range request, is checked against the length the server announced, and only then is renamed to NAME.
A file at NAME is complete by construction and is never fetched again.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

RETRY_STATUS = {429, 500, 502, 503, 504}
TRANSIENT_ERRORS = (httpx.TransportError,)  # connect, read, write, pool, protocol (dropped bodies)


class FetchError(RuntimeError):
    """A download that ran out of attempts; a later try may succeed."""


class PermanentFetchError(FetchError):
    """A download that retrying cannot mend: 404 or another 4xx, or a size that disagrees."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    backoff: float = 0.5
    """First wait in seconds; doubles each attempt, with jitter."""
    max_wait: float = 30.0

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_wait)
            except ValueError:
                pass
        base = self.backoff * (2**attempt)
        return min(base * (0.5 + random.random()), self.max_wait)


def is_remote(source: str) -> bool:
    """A URL to download from, rather than a local path to read in place."""
    return source.startswith(("http://", "https://"))


def new_client(timeout: float = 60.0) -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=15.0), follow_redirects=True)


_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """One client for every download of this process, from any thread (httpx's pool is thread-safe).

    A client per file built an SSL context each time (some 30 ms, in every download thread) and
    opened a new connection; this one keeps its connections to the source alive between files.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = new_client()
        return _shared


def with_retries(call: Callable[[], httpx.Response | Path], policy: RetryPolicy, what: str):
    """Run `call` until it succeeds, retrying transient errors; `call` raises `_Retry` to ask again."""
    last: Exception | None = None
    for attempt in range(policy.attempts):
        try:
            return call()
        except _Retry as e:
            last = e
            time.sleep(policy.wait(attempt, e.retry_after))
        except TRANSIENT_ERRORS as e:
            last = e
            time.sleep(policy.wait(attempt))
    raise FetchError(f"{what}: gave up after {policy.attempts} attempts: {last}")


class _Retry(Exception):
    def __init__(self, message: str, retry_after: str | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _check_status(r: httpx.Response, url: str) -> None:
    if r.status_code in RETRY_STATUS:
        raise _Retry(f"HTTP {r.status_code} from {url}", r.headers.get("retry-after"))
    if r.status_code >= 400:
        raise PermanentFetchError(f"HTTP {r.status_code} from {url}")


def get_text(url: str, client: httpx.Client, policy: RetryPolicy = RetryPolicy()) -> str | None:
    """The body of a page, or None when the server says 404 (a folder that does not exist)."""

    def once() -> httpx.Response:
        r = client.get(url)
        if r.status_code == 404:
            return r
        _check_status(r, url)
        return r

    r = with_retries(once, policy, f"GET {url}")
    return None if r.status_code == 404 else r.text


def default_cache() -> Path:
    """Downloads live here unless told otherwise: outside the output, which must hold only keys."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "whaledr"


def cache_path(cache: Path, url: str) -> Path:
    """Where a URL's file lives in the cache: its server path, so two servers' files never collide."""
    u = urlparse(url)
    return cache / u.netloc.replace(":", "_") / unquote(u.path).lstrip("/")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One download of a file at a time on this machine, across processes."""
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def download(
    url: str,
    dest: Path,
    client: httpx.Client,
    *,
    expected_size: int | None = None,
    size_bounds: tuple[int, int] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    gate: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> Path:
    """Fetch `url` to `dest` unless it is already there; return `dest`.

    `gate` is entered around the transfer only, once this process holds the file and it is still
    missing: a bound on downloads shared with other machines (a Prefect concurrency limit) is then
    held by transfers alone, never by a file found in the cache or waited for.

    `expected_size`, when known exactly, must match what the server announces, or the download is
    refused: a listing and a file that disagree mean the file changed or the server is wrong.
    `size_bounds`, from a rounded listing size, catch a body cut short under a Content-Length that
    agrees with it: that download is thrown away and tried again, never kept as the whole file.
    """
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest):
        if dest.exists():  # another process finished it while we waited
            return dest
        part = dest.with_name(dest.name + ".part")
        with gate():
            with_retries(lambda: _attempt(url, part, client, expected_size, size_bounds), policy, f"download {url}")
        os.replace(part, dest)
    return dest


def _attempt(url: str, part: Path, client: httpx.Client, expected_size: int | None,
             size_bounds: tuple[int, int] | None = None) -> Path:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as r:
        if r.status_code == 416:  # our partial file is longer than the resource: start over
            part.unlink(missing_ok=True)
            raise _Retry(f"HTTP 416 for {url}; restarting")
        _check_status(r, url)
        if r.status_code == 206:
            total = _total_from_content_range(r.headers.get("content-range"))
            mode = "ab"
        else:  # 200: the whole file, whatever we had
            have, mode = 0, "wb"
            total = int(r.headers["content-length"]) if "content-length" in r.headers else None
        if expected_size is not None and total is not None and total != expected_size:
            part.unlink(missing_ok=True)
            raise PermanentFetchError(f"{url}: server announces {total} bytes, listing said {expected_size}")
        with open(part, mode) as fh:
            for chunk in r.iter_bytes():  # unbuffered: what arrived before a drop is kept
                fh.write(chunk)
    size = part.stat().st_size
    if total is not None and size != total:
        if size > total:
            part.unlink(missing_ok=True)
            raise PermanentFetchError(f"{url}: got {size} bytes, server announced {total}")
        raise _Retry(f"{url}: body ended at {size} of {total} bytes")
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise PermanentFetchError(f"{url}: got {size} bytes, listing said {expected_size}")
    if size_bounds is not None and not size_bounds[0] <= size <= size_bounds[1]:
        part.unlink(missing_ok=True)
        raise _Retry(f"{url}: got {size} bytes, the listing said {size_bounds[0]}-{size_bounds[1]}")
    return part


def _total_from_content_range(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def local_copy(url: str, cache: Path, expected_size: int | None = None,
               size_bounds: tuple[int, int] | None = None,
               gate: Callable[[], AbstractContextManager[object]] = nullcontext) -> Path:
    """A path to read `url` from: a local path as it is, a URL downloaded into the cache once
    (`gate` around the transfer, see `download`)."""
    if not is_remote(url):
        return Path(url)
    return download(url, cache_path(cache, url), shared_client(), expected_size=expected_size,
                    size_bounds=size_bounds, gate=gate)
