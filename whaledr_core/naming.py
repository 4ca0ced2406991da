"""Object keys and sample IDs of the app contract (SwipesForScience), in one place.

The app rebuilds a sample's URLs from its ID split on `___`, with templates like
`{base}/{prefix}/{0}/{1}/{2}.png`; so the key layout and the ID format must change together, here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

ID_SEPARATOR = "___"
APP_MANIFEST_NAME = "whalemanifest.json"
DAY_MANIFEST_NAME = "whaledr-day.json"
_FORBIDDEN = re.compile(r"[.\/#$\[\]]")


@dataclass(frozen=True)
class ChannelCodes:
    """SEED codes of a channel; the empty location code is normal (`OO_HYEA1__YDH`)."""

    network: str
    station: str
    location: str
    channel: str


def day_folder(day: dt.date) -> str:
    return f"{day:%Y_%m_%d}"


def clip_stem(codes: ChannelCodes, start: dt.datetime) -> str:
    """`OO_HYEA1__YDH_2019_01_12T03_01_20`: clips start on whole seconds, so none are kept."""
    return (
        f"{codes.network}_{codes.station}_{codes.location}_{codes.channel}_"
        f"{start:%Y_%m_%dT%H_%M_%S}"
    )


def sample_id(node: str, day: dt.date, stem: str) -> str:
    sid = ID_SEPARATOR.join((node, day_folder(day), stem))
    if _FORBIDDEN.search(sid):
        raise ValueError(f"sample ID {sid!r} holds a character the Realtime Database refuses")
    return sid


def split_sample_id(sid: str) -> tuple[str, str, str]:
    node, folder, stem = sid.split(ID_SEPARATOR)
    return node, folder, stem


def _join(prefix: str, *parts: str) -> str:
    return "/".join(p.strip("/") for p in (prefix, *parts) if p and p.strip("/"))


def clip_key(prefix: str, sid: str, ext: str) -> str:
    """Key of a clip's `png` or `wav`; the app derives the same from the ID."""
    return _join(prefix, *split_sample_id(sid)) + f".{ext}"


def day_prefix(prefix: str, node: str, day: dt.date) -> str:
    return _join(prefix, node, day_folder(day)) + "/"


def day_manifest_key(prefix: str, node: str, day: dt.date) -> str:
    return _join(prefix, node, day_folder(day), DAY_MANIFEST_NAME)


def app_manifest_key(prefix: str) -> str:
    return _join(prefix, APP_MANIFEST_NAME)
