"""The whaledr app's own config, as the contract our keys must meet.

The app (SwipesForScience, commit 2cd319e) fetches its manifest from `manifestUrl`
(src/workers/LoadManifestWorker.js) and turns each sample ID into URLs by splitting it on `delimiter`
and putting part `i` where the template says `{i}` (`fillPropertyPattern` in
src/components/Widgets/ImageSoundSwipe.vue). So a run can say before it writes anything whether the
app will find its clips: build the URLs of an ID with the app's rule, read the bucket and key out of
them, and compare with the bucket, prefix and extension the run will write.

`LIVE` is the live app's config (Firebase project `megaptera-13ae9`): the default everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .catalog import DEFAULT_HYDROPHONES
from .naming import APP_MANIFEST_NAME, ID_SEPARATOR, clip_key, sample_id

SCHEMAS = ("sampleCounts", "samples")
"""`/sampleCounts/{id}` (the live app) or `/samples/{id}` (SwipesForScience 2022+)."""

_LIVE_BASE = "https://s3-us-west-2.amazonaws.com/whaledr/megaptera"


@dataclass(frozen=True)
class AppConfig:
    """What the app reads; the defaults are the live whaledr app's config."""

    manifest_url: str = f"{_LIVE_BASE}/{APP_MANIFEST_NAME}"
    image_template: str = _LIVE_BASE + "/{0}/{1}/{2}.jpg"
    sound_template: str = _LIVE_BASE + "/{0}/{1}/{2}.wav"
    delimiter: str = ID_SEPARATOR
    database_url: str = "https://megaptera-13ae9.firebaseio.com"
    database_schema: str = "sampleCounts"
    origin: str = "https://megaptera-13ae9.firebaseapp.com"
    """Where the app's pages are served from (its Firebase authDomain): the Origin its browser sends."""

    def __post_init__(self) -> None:
        if self.database_schema not in SCHEMAS:
            raise ValueError(f"database schema must be one of {', '.join(SCHEMAS)} (got {self.database_schema!r})")
        if not self.delimiter:
            raise ValueError("the delimiter must not be empty")
        for name in ("image_template", "sound_template"):
            if not re.search(r"\{\d+\}", getattr(self, name)):
                raise ValueError(f"{name} has no {{0}}-style field: every sample would have the same URL")

    def image_url(self, sid: str) -> str:
        return fill(self.image_template, sid, self.delimiter)

    def sound_url(self, sid: str) -> str:
        return fill(self.sound_template, sid, self.delimiter)


LIVE = AppConfig()


def cors_rules(origin: str = LIVE.origin) -> dict:
    """The bucket's CORS configuration the app needs (S3 PutBucketCors; docs "Feeding the whaledr app")."""
    return {"CORSRules": [{"AllowedOrigins": [origin], "AllowedMethods": ["GET", "HEAD"],
                           "AllowedHeaders": ["*"], "MaxAgeSeconds": 3600}]}


def public_read_policy(bucket: str, prefix: str) -> dict:
    """The bucket policy that lets anyone GET the app's objects, and nothing else."""
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "WhaledrAppPublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix.strip('/')}/*" if prefix.strip("/") else f"arn:aws:s3:::{bucket}/*",
    }]}


def fill(template: str, sid: str, delimiter: str) -> str:
    """The app's `fillPropertyPattern`: split the ID, replace the first `{i}` with part `i`."""
    out = template
    for i, part in enumerate(sid.split(delimiter)):
        out = out.replace(f"{{{i}}}", part, 1)
    return out


_VIRTUAL_HOST = re.compile(r"^(?P<bucket>.+)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com$")


def s3_location(url: str) -> tuple[str, str]:
    """(bucket, key) an S3 URL points at, path style (`s3-us-west-2.amazonaws.com/BUCKET/KEY`, or any
    other host such as a local S3 server) or virtual-host style (`BUCKET.s3.amazonaws.com/KEY`)."""
    parts = urlsplit(url)
    host, path = parts.hostname or "", unquote(parts.path).lstrip("/")
    m = _VIRTUAL_HOST.match(host)
    if m:
        return m.group("bucket"), path
    bucket, _, key = path.partition("/")
    return bucket, key


@dataclass(frozen=True)
class Layout:
    """Where a run writes: the bucket (None for a local folder), the key prefix and the image extension."""

    bucket: str | None
    prefix: str
    image_extension: str


PROBE_ID = sample_id(DEFAULT_HYDROPHONES[0], dt.date(2019, 1, 12), "OO_HYEA2__YDH_2019_01_12T00_00_00")
"""Any ID this pipeline makes; its keys and the app's URLs for it are compared."""


def disagreement(app: AppConfig, layout: Layout, sid: str = PROBE_ID) -> str | None:
    """None when the app finds what the run writes; else one line naming the part that disagrees
    (bucket, prefix, extension, or a template that lays keys out otherwise)."""
    prefix = layout.prefix.strip("/")
    bucket, key = s3_location(app.manifest_url)
    where, _, name = key.rpartition("/")
    found = [("manifest", bucket, where, name, APP_MANIFEST_NAME)]
    rel = "/".join(sid.split(ID_SEPARATOR))
    for what, ext, template in (("image", layout.image_extension, app.image_template),
                                ("sound", "wav", app.sound_template)):
        url = fill(template, sid, app.delimiter)
        bucket, key = s3_location(url)
        stem, dot, want_ext = key.rpartition(".")
        if not dot or not (stem == rel or stem.endswith("/" + rel)):
            mine = clip_key(prefix, sid, ext)
            return f"{what} template: the app asks for key {key!r} ({url}), this run writes {mine!r}"
        found.append((what, bucket, stem[: len(stem) - len(rel)].strip("/"), want_ext, ext))
    for what, bucket, _, _, _ in found:
        if layout.bucket is not None and bucket != layout.bucket:
            return f"bucket: the app reads its {what}s from bucket {bucket!r}, this run writes to {layout.bucket!r}"
    for what, _, app_prefix, _, _ in found:
        if app_prefix != prefix:
            return f"prefix: the app reads its {what}s under {app_prefix!r}, this run writes under {prefix!r}"
    for what, _, _, wanted, written in found:
        if wanted != written:
            part = "name" if what == "manifest" else "extension"
            return f"{part}: the app asks for {what} {wanted!r}, this run writes {written!r}"
    return None
