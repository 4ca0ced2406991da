"""What files a day holds, read from the server's index pages (or a local copy of its folders).

File names are never built by hand: a day folder holds `.png` plots next to the data, irregular start
times after gaps, and since June 2023 an `addendum/` subfolder. We read what the server lists.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import httpx

from .catalog import Hydrophone
from .fetch import RetryPolicy, get_text, is_remote, new_client
from .naming import ChannelCodes

EXTRA_FOLDERS = ("addendum",)
"""Subfolders of a day folder that hold more of the same day's data."""

# The three forms of the OOI raw data server's names (DESIGN.md "The data"; ooipy issue 174 and the
# rawdata server's paths): `OO-HYVM2--YDH.2015-09-03T23:53:17.272250.mseed` (before mid-December
# 2015, a dot before the time), `OO-HYEA2--YDH-2019-01-12T00:00:00.000015.mseed` (late 2015 to 2023)
# and `OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed` (the June 2023 driver, a trailing `Z`).
_NAME = re.compile(
    r"^(?P<net>[A-Za-z0-9]{1,2})-(?P<sta>[A-Za-z0-9]{1,5})-(?P<loc>[A-Za-z0-9]{0,2})-(?P<cha>[A-Za-z0-9]{1,3})[-.]"
    r"(?P<start>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)Z?\.mseed$"
)
NAME_FORMS = (
    "NET-STA-LOC-CHA.YYYY-MM-DDTHH:MM:SS.ffffff.mseed, NET-STA-LOC-CHA-YYYY-MM-DDTHH:MM:SS.ffffff.mseed "
    "or the same with a trailing Z"
)
"""What a data file's name may look like, for the error that names one that is none of these."""
UNPARSED_START = dt.datetime.max.replace(tzinfo=dt.UTC)
"""The start given to a `.mseed` file whose name says none: it sorts after every real file."""
_NO_CODES = ChannelCodes("", "", "", "")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class ListingError(RuntimeError):
    """The source does not look like an OOI server or folder for that hydrophone and day."""


@dataclass(frozen=True)
class RawFile:
    url: str
    """http(s) URL, or an absolute local path for a folder source."""
    name: str
    start: dt.datetime
    """UTC, with the microseconds of the name."""
    size: int | None
    """Bytes; exact when the page (or disk) gives bytes, rounded when it gives `36M`."""
    size_exact: bool
    codes: ChannelCodes
    problem: str | None = None
    """Why the file cannot be used at all (a name in no known form); it is then a failed file of the day."""
    note: str | None = None
    """What the listing had to decide about it (a name listed twice: which copy, and why)."""

    @property
    def exact_size(self) -> int | None:
        """The size a download must have, when the listing gave it to the byte."""
        return self.size if self.size_exact else None

    @property
    def size_bounds(self) -> tuple[int, int] | None:
        """The sizes a rounded listing size (`45M`, `5.2M`) allows: half its last digit either side,
        and 1 % more for servers that round another way. A body outside them was cut short."""
        if self.size is None or self.size_exact:
            return None
        unit = max((u for u in _UNITS.values() if self.size >= u), default=1)
        step = (0.1 if self.size / unit < 10 else 1.0) * unit
        slack = step / 2 + self.size / 100
        return int(self.size - slack), int(self.size + slack) + 1


def parse_name(name: str) -> tuple[ChannelCodes, dt.datetime] | None:
    """Codes and start time from a name in any of the server's three forms, or None."""
    m = _NAME.match(name)
    if not m:
        return None
    start = dt.datetime.fromisoformat(m["start"]).replace(tzinfo=dt.UTC)
    return ChannelCodes(m["net"], m["sta"], m["loc"], m["cha"]), start


def is_data_name(name: str) -> bool:
    """A name the server would only give a miniSEED data file: it must parse, or the day says so."""
    return name.lower().endswith(".mseed")


def listed_file(url: str, name: str, size: int | None, exact: bool) -> RawFile | None:
    """The record of one listed name: None for what is not data (plots, text), a file with a
    `problem` for a `.mseed` name in no known form, so that a renaming on the server is loud."""
    if not is_data_name(name):
        return None
    parsed = parse_name(name)
    if parsed is None:
        problem = f"file name in no known OOI form ({NAME_FORMS})"
        return RawFile(url, name, UNPARSED_START, size, exact, _NO_CODES, problem=problem)
    return RawFile(url, name, parsed[1], size, exact, parsed[0])


def parse_size(text: str) -> tuple[int | None, bool]:
    m = _SIZE.match(text.replace("&nbsp;", " "))
    if not m:
        return None, False
    unit = m[2].upper()
    return int(float(m[1]) * _UNITS[unit]), unit == ""


class _IndexParser(HTMLParser):
    """Collects links in page order, and the text of each link's row (for sizes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (href, text after the link up to the next link/row)
        self._href: str | None = None
        self._tail: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._flush()
            self._href = dict(attrs).get("href")
        elif tag == "tr":
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._tail.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("tr", "pre", "table", "body"):
            self._flush()

    def _flush(self) -> None:
        if self._href is not None:
            self.links.append((self._href, " ".join(self._tail)))
        self._href, self._tail = None, []

    def close(self) -> None:
        super().close()
        self._flush()


def parse_index(html: str, page_url: str) -> tuple[list[RawFile], list[str]]:
    """`.mseed` files and child folders (absolute URLs) of one index page.

    Understands Apache autoindex pages (table or `<pre>` form, sizes like `36M`) and the plain link
    lists of `python -m http.server`. Sort links, parent links and links off the folder are ignored.
    """
    if not page_url.endswith("/"):
        page_url += "/"
    p = _IndexParser()
    p.feed(html)
    p.close()
    files: list[RawFile] = []
    folders: list[str] = []
    for href, tail in p.links:
        if not href or href.startswith(("?", "#", "mailto:")):
            continue
        if _SCHEME_LIKE.match(href) and not _SCHEME.match(href):
            href = "./" + href  # `NAME:...` unprefixed would read as a URL scheme; Apache adds the `./`
        url = urljoin(page_url, href)
        if not url.startswith(page_url) or url == page_url:
            continue  # parent directory, icons, other hosts
        rel = unquote(url[len(page_url) :])
        if rel.endswith("/") and "/" not in rel[:-1]:
            folders.append(url)
            continue
        if "/" in rel:
            continue  # deeper than this folder
        size, exact = _size_from_tail(tail, rel)
        f = listed_file(url, rel, size, exact)
        if f is not None:
            files.append(f)
    return files, folders


_SCHEME = re.compile(r"^(?:https?|ftp|mailto):", re.IGNORECASE)
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _size_from_tail(tail: str, name: str) -> tuple[int | None, bool]:
    """The size column: the last word of a link's row (Apache: name, date, time, size)."""
    tokens = tail.replace(name, " ").split()
    return parse_size(tokens[-1]) if tokens else (None, False)


def _sorted_unique(files: list[RawFile]) -> list[RawFile]:
    """Each name once, in time order; a name listed twice (day folder and `addendum/`) is one file.

    The copy used is the larger one (the other may be a partial delivery the addendum completes);
    on equal or unknown sizes, the one listed first (the day folder's). The choice is in its note.
    """
    by_name: dict[str, list[RawFile]] = {}
    for f in files:
        by_name.setdefault(f.name, []).append(f)
    chosen = []
    for copies in by_name.values():
        best = max(copies, key=lambda f: f.size if f.size is not None else -1)  # max keeps the first on ties
        if len(copies) > 1:
            sizes = {f.size for f in copies}
            why = ("the larger copy" if len(sizes) > 1 and None not in sizes
                   else "the copy listed first (the day folder's), as the sizes do not tell them apart")
            others = ", ".join(f"{f.url} ({f.size} bytes)" for f in copies if f is not best)
            best = replace(best, note=f"listed {len(copies)} times; used {best.url} ({best.size} bytes), {why}; "
                                      f"not used: {others}")
        chosen.append(best)
    return sorted(chosen, key=lambda f: (f.start, f.name))


def list_http_day(
    base: str, paths: list[str], client: httpx.Client | None = None, policy: RetryPolicy = RetryPolicy()
) -> tuple[str | None, list[RawFile]]:
    """The first of `paths` under `base` that exists, with its files (addendum included)."""
    own = client is None
    client = client or new_client()
    try:
        for rel in paths:
            url = base.rstrip("/") + "/" + rel
            html = get_text(url, client, policy)
            if html is None:
                continue
            files, folders = parse_index(html, url)
            for folder in folders:
                if unquote(urlparse(folder).path).rstrip("/").rsplit("/", 1)[-1] in EXTRA_FOLDERS:
                    sub = get_text(folder, client, policy)
                    if sub is not None:
                        files += parse_index(sub, folder)[0]
            return url, _sorted_unique(files)
        return None, []
    finally:
        if own:
            client.close()


def list_local_day(base: str, paths: list[str]) -> tuple[str | None, list[RawFile]]:
    """The same for a folder laid out as the server (as on the OOI JupyterHub mount)."""
    root = Path(base)
    if not root.is_dir():
        raise ListingError(f"source folder {base} does not exist")
    for rel in paths:
        folder = root / rel
        if not folder.is_dir():
            continue
        files: list[RawFile] = []
        for d in [folder, *(folder / x for x in EXTRA_FOLDERS)]:
            if not d.is_dir():
                continue
            for entry in os.scandir(d):
                if entry.is_file():
                    f = listed_file(str(Path(entry.path).resolve()), entry.name, entry.stat().st_size, True)
                    if f is not None:
                        files.append(f)
        return str(folder), _sorted_unique(files)
    return None, []


def check_source(source: str, timeout: float = 15.0) -> None:
    """Fail in a second, not after minutes of retries, when the source cannot be reached at all."""
    if not is_remote(source):
        if not Path(source).is_dir():
            raise ListingError(f"source {source!r} is neither an http(s) URL nor an existing folder")
        return
    try:
        r = httpx.get(source.rstrip("/") + "/", timeout=timeout, follow_redirects=True)
    except httpx.TransportError as e:
        raise ListingError(f"cannot reach {source}: {e}") from None
    if r.status_code >= 500:
        raise ListingError(f"{source} answers HTTP {r.status_code}; try again later or use a mirror")
    if r.status_code >= 400 or "href=" not in r.text.lower():
        what = f"HTTP {r.status_code}" if r.status_code >= 400 else "a page without links"
        raise ListingError(f"{source} is not an OOI-style file server: its top folder gives {what}, "
                           "not a directory index")


def list_day(
    source: str, hydrophone: Hydrophone, day: dt.date, client: httpx.Client | None = None,
    policy: RetryPolicy = RetryPolicy(),
) -> tuple[str | None, list[RawFile]]:
    """(the day folder found, its files); (None, []) when no folder exists for that day."""
    paths = hydrophone.day_paths(day)
    if is_remote(source):
        return list_http_day(source, paths, client, policy)
    return list_local_day(source, paths)
