"""Play the browser: load the app's manifest and each sample's image and sound as the app would.

The app's manifest worker (SwipesForScience, commit 2cd319e, src/workers/LoadManifestWorker.js)
fetches `manifestUrl` anonymously from the app's own origin, so S3 must answer it with a CORS header;
ImageSoundSwipe.vue then builds each sample's image and sound URLs from its ID. Every request here is
anonymous (no credential exists in this module) and carries the app's `Origin`; an answer counts as
good when it is 200, of the content type its extension means, and allowed for that origin.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from .app import AppConfig

CONTENT_TYPES = {
    "jpg": ("image/jpeg",), "jpeg": ("image/jpeg",), "png": ("image/png",),
    "wav": ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"),
    "json": ("application/json",),
}
"""What a browser accepts for each extension (every name browsers give WAV)."""


@dataclass(frozen=True)
class Failure:
    sample: str
    """The sample ID, or `manifest`."""
    what: str
    url: str
    problem: str


@dataclass
class AppCheck:
    manifest_ids: int = 0
    checked: int = 0
    """Samples whose image and sound were asked for."""
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.manifest_ids > 0 and not self.failures


def problem(response: httpx.Response, url: str, origin: str) -> str | None:
    """Why a browser on `origin` could not use this answer, or None."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    ext = urlsplit(url).path.rpartition(".")[2].lower()
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    wanted = CONTENT_TYPES.get(ext)
    if wanted and ctype not in wanted:
        return f"Content-Type {ctype or 'missing'}, not {wanted[0]}"
    allowed = response.headers.get("access-control-allow-origin")
    if allowed not in ("*", origin):
        return f"no CORS header for {origin}" if allowed is None else f"CORS allows {allowed}, not {origin}"
    return None


def check_app(
    app: AppConfig,
    sample: int | None = None,
    seed: int | None = None,
    concurrency: int = 16,
    timeout: float = 30.0,
    progress: Callable[[int], None] | None = None,
) -> AppCheck:
    """The manifest, then every sample's image and sound (or `sample` of them, chosen at random)."""
    out = AppCheck()
    headers = {"Origin": app.origin}
    with httpx.Client(timeout=timeout, headers=headers, follow_redirects=False) as client:
        try:
            r = client.get(app.manifest_url)
        except httpx.HTTPError as e:
            out.failures.append(Failure("manifest", "manifest", app.manifest_url, type(e).__name__))
            return out
        why = problem(r, app.manifest_url, app.origin)
        ids = _ids(r) if why is None else []
        if why is None and ids is None:
            why = "not a JSON list of sample IDs"
        if why:
            out.failures.append(Failure("manifest", "manifest", app.manifest_url, why))
            return out
        assert ids is not None
        out.manifest_ids = len(ids)
        chosen = ids if sample is None or sample >= len(ids) else random.Random(seed).sample(ids, sample)
        out.checked = len(chosen)
        jobs = [(sid, what, url) for sid in chosen
                for what, url in (("image", app.image_url(sid)), ("sound", app.sound_url(sid)))]

        def one(job: tuple[str, str, str]) -> Failure | None:
            sid, what, url = job
            try:
                with client.stream("GET", url) as response:  # the headers are the answer; the body is not read
                    why = problem(response, url, app.origin)
            except httpx.HTTPError as e:
                why = type(e).__name__
            return Failure(sid, what, url, why) if why else None

        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            for i, failure in enumerate(pool.map(one, jobs), 1):
                if failure:
                    out.failures.append(failure)
                if progress and i % 2 == 0:
                    progress(i // 2)
    return out


def _ids(response: httpx.Response) -> list[str] | None:
    try:
        ids = json.loads(response.content)
    except ValueError:
        return None
    return ids if isinstance(ids, list) and all(isinstance(i, str) for i in ids) else None


def table(check: AppCheck, limit: int = 50) -> str:
    """What failed, one row per URL, for a terminal."""
    rows = [("sample", "what", "problem", "url")]
    rows += [(f.sample, f.what, f.problem, f.url) for f in check.failures[:limit]]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    if len(check.failures) > limit:
        lines.append(f"... and {len(check.failures) - limit} more")
    return "\n".join(lines)
