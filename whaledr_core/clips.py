"""From miniSEED files to clips on a fixed UTC grid, with every window of the day accounted for.

Time is counted in samples from the day's midnight ("day index"), so that a clip is a slice and a
gap is an integer. Window k covers day indices [k*W, (k+1)*W) with W = clip seconds x rate.

Each window has exactly one owner: the last file whose start (from its name) is at or before the
window's start, give or take `tolerance_samples`. The owner reads its own file whole and, only when a
window runs past its data and the next file starts mid-window, the head of the next file. So one file
is one unit of work, and windows partition the day between units with no overlap and no hole.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .catalog import FILE_SECONDS, SAMPLE_RATE
from .listing import RawFile

DAY_SECONDS = 86_400

GAP = "gap"
"""No data in the window (at most `tolerance_samples`)."""
SHORT = "short"
"""Some data, but more than `tolerance_samples` missing."""
BAD_FILE = "bad_file"
"""The owning file could not be read."""
NOT_FETCHED = "not_fetched"
"""The owning file could not be downloaded."""
ERROR = "error"
"""Processing the owning file failed for another reason (see the file's error)."""


@dataclass(frozen=True)
class ClipSettings:
    clip_seconds: int = 5
    tolerance_samples: int = 64
    """Missing samples a clip may have (fractional file starts, counts off by a few); filled with the mean."""
    sample_rate: int = SAMPLE_RATE
    file_seconds: int = FILE_SECONDS
    continuity_samples: int = 640
    """A file whose traces add up to file_seconds x rate +- this is continuous (OOI's own rule)."""
    gap_seconds: float = 0.02
    """Otherwise only jumps between traces longer than this are real gaps or overlaps."""

    def __post_init__(self) -> None:
        if self.clip_seconds <= 0 or DAY_SECONDS % self.clip_seconds:
            raise ValueError(f"clip length must divide a day into whole clips; {self.clip_seconds} s does not")
        if self.clip_seconds > self.file_seconds:
            raise ValueError(f"clip length must be at most {self.file_seconds} s")

    @property
    def window(self) -> int:
        return self.clip_seconds * self.sample_rate

    @property
    def windows_per_day(self) -> int:
        return DAY_SECONDS // self.clip_seconds


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def day_index(t: dt.datetime, day: dt.date, rate: int) -> int:
    """Samples from midnight to `t`, rounded; exact in integers (microseconds)."""
    delta = t - midnight(day)
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (us * rate + 500_000) // 1_000_000


def window_start(day: dt.date, k: int, cs: ClipSettings) -> dt.datetime:
    return midnight(day) + dt.timedelta(seconds=k * cs.clip_seconds)


@dataclass(frozen=True)
class FileUnit:
    """One file and the windows it owns: the unit of work handed to a worker."""

    file: RawFile
    first_window: int
    end_window: int
    """Owned windows are first_window <= k < end_window."""
    next_file: RawFile | None = None
    """Set only when a window owned here may need the head of the next file."""
    from_previous_day: bool = False

    @property
    def windows(self) -> range:
        return range(self.first_window, self.end_window)


@dataclass(frozen=True)
class DayPlan:
    day: dt.date
    units: list[FileUnit]
    unowned: list[int]
    """Windows no file owns (before the first file's start): gaps by definition."""
    files: list[RawFile]
    """Every file listed for the day (a unit or not), for the record."""


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def plan_day(
    day: dt.date, files: Sequence[RawFile], cs: ClipSettings, previous: RawFile | None = None
) -> DayPlan:
    """Give each window of `day` to one file; `previous` is the last file of the day before.

    The previous day's last file is used only when its nominal end reaches into this day by more
    than the tolerance (it started late after a gap): a file that ends on midnight is not fetched.
    """
    W, tol, n = cs.window, cs.tolerance_samples, cs.windows_per_day
    ordered = sorted(files, key=lambda f: (f.start, f.name))
    candidates: list[tuple[RawFile, bool]] = [(f, False) for f in ordered]
    if previous is not None:
        spill = day_index(previous.start, day, cs.sample_rate) + cs.file_seconds * cs.sample_rate
        if spill > tol:
            candidates.insert(0, (previous, True))
    starts = [day_index(f.start, day, cs.sample_rate) for f, _ in candidates]
    units: list[FileUnit] = []
    for i, (f, prev_day) in enumerate(candidates):
        lo = max(0, _ceil_div(starts[i] - tol, W))
        nxt = starts[i + 1] if i + 1 < len(starts) else None
        hi = n if nxt is None else min(n, max(0, _ceil_div(nxt - tol, W)))
        if lo >= hi:
            continue
        straddle = nxt is not None and tol < (nxt % W) < W - tol
        units.append(FileUnit(f, lo, hi, candidates[i + 1][0] if straddle else None, prev_day))
    first = units[0].first_window if units else n
    return DayPlan(day, units, list(range(0, first)), list(ordered))


# --- reading files -----------------------------------------------------------------------------


@dataclass
class Segment:
    start: int
    """Day index of data[0]."""
    data: np.ndarray
    """int32 counts."""

    @property
    def end(self) -> int:
        return self.start + len(self.data)


@dataclass
class FileData:
    segments: list[Segment]
    traces: int
    duplicates: int = 0
    other_rate: int = 0
    """Traces dropped for a sampling rate other than ours."""
    notes: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return sum(len(s.data) for s in self.segments)


class BadFile(ValueError):
    """A file that cannot give clips: not miniSEED, no trace at our rate, no samples."""


def read_file(
    path: str, day: dt.date, cs: ClipSettings, head_seconds: float | None = None, start: dt.datetime | None = None
) -> FileData:
    """Decode a whole file (or, for a straddling window, its first `head_seconds` from `start`)."""
    from obspy import UTCDateTime, read  # obspy's import is slow; keep it off module import

    kwargs = {}
    if head_seconds is not None and start is not None:
        t0 = UTCDateTime(start)
        kwargs = {"starttime": t0 - 1, "endtime": t0 + head_seconds}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            stream = read(path, format="MSEED", **kwargs)
        except Exception as e:  # obspy raises many types for corrupt input
            raise BadFile(f"not readable as miniSEED: {type(e).__name__}: {e}") from None
        data = assemble(stream, day, cs, whole=head_seconds is None)
    # obspy's warnings about a damaged file belong to that file's record, not to the worker's stderr
    data.notes += list(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))[:5]
    return data


def assemble(stream, day: dt.date, cs: ClipSettings, whole: bool = True) -> FileData:
    """Put a file's traces (fragments) on the day's sample axis.

    OOI's fragments carry per-packet timestamps that jitter by up to ~0.25 s; placing each by its
    timestamp would invent gaps and overlaps. So, as OOI's own pipeline does, a file whose traces add
    up to a whole file (+- `continuity_samples`) is taken as continuous and concatenated in order.
    Otherwise each trace is placed by its timestamp and only jumps beyond `gap_seconds` count.
    """
    rate = cs.sample_rate
    traces = [tr for tr in stream if abs(tr.stats.sampling_rate - rate) < 1e-6 and tr.stats.npts > 0]
    other = sum(1 for tr in stream if abs(tr.stats.sampling_rate - rate) >= 1e-6)
    if not traces:
        if other:
            rates = sorted({float(tr.stats.sampling_rate) for tr in stream})
            raise BadFile(f"no {rate} Hz trace (rates found: {rates})")
        raise BadFile("no samples")
    from obspy import UTCDateTime

    day0 = UTCDateTime(midnight(day))
    items = [(int(round((tr.stats.starttime - day0) * rate)), tr.data) for tr in traces]  # file order
    # duplicate packets (same start, same samples), wherever they sit, are dropped before counting
    unique: list[tuple[int, np.ndarray]] = []
    seen: dict[tuple[int, int], list[np.ndarray]] = {}
    dups = 0
    for start, data in items:
        twins = seen.setdefault((start, len(data)), [])
        if any(np.array_equal(t, data) for t in twins):
            dups += 1
            continue
        twins.append(data)
        unique.append((start, data))
    total = sum(len(d) for _, d in unique)
    expected = cs.file_seconds * rate
    notes: list[str] = []
    if whole and total < expected - cs.continuity_samples:
        notes.append(f"holds {total} samples of the {expected} of a whole file (truncated, or gaps)")
    if len(unique) == 1 or (whole and abs(total - expected) <= cs.continuity_samples):
        # in the order the file holds them: the timestamps jitter more than a short fragment lasts
        data = np.concatenate([d for _, d in unique]).astype(np.int32, copy=False)
        segments = [Segment(unique[0][0], data)]
    else:
        segments = _place(sorted(unique, key=lambda x: x[0]), int(round(cs.gap_seconds * rate)), notes)
    return FileData(segments, len(traces), dups, other, notes)


def _place(items: list[tuple[int, np.ndarray]], tol: int, notes: list[str]) -> list[Segment]:
    segments: list[Segment] = []
    parts: list[np.ndarray] = []
    seg_start = cursor = None
    overlaps = gaps = 0
    for start, data in items:
        if cursor is None:
            seg_start, cursor, parts = start, start + len(data), [data]
            continue
        if abs(start - cursor) <= tol:
            parts.append(data)
            cursor += len(data)
        elif start > cursor:
            gaps += 1
            segments.append(Segment(seg_start, np.concatenate(parts).astype(np.int32, copy=False)))
            seg_start, cursor, parts = start, start + len(data), [data]
        else:  # overlaps what we have by more than the tolerance: keep only what is new
            overlaps += 1
            new = data[cursor - start :]
            if len(new):
                parts.append(new)
                cursor += len(new)
    segments.append(Segment(seg_start, np.concatenate(parts).astype(np.int32, copy=False)))
    if gaps or overlaps:
        notes.append(f"{gaps} gaps and {overlaps} overlaps between traces beyond tolerance")
    return segments


# --- cutting windows -----------------------------------------------------------------------------


def gather(segments: Sequence[Segment], a: int, b: int) -> tuple[np.ndarray | None, int]:
    """Samples of [a, b) and how many were covered; a view when one segment holds them all."""
    for s in segments:
        if s.start <= a and b <= s.end:
            return s.data[a - s.start : b - s.start], b - a
    touching = [s for s in segments if s.start < b and a < s.end]
    if not touching:
        return None, 0
    out = np.zeros(b - a, dtype=np.int32)
    mask = np.zeros(b - a, dtype=bool)
    for s in touching:
        lo, hi = max(a, s.start), min(b, s.end)
        sel = ~mask[lo - a : hi - a]  # the first segment to cover a sample wins
        out[lo - a : hi - a][sel] = s.data[lo - s.start : hi - s.start][sel]
        mask[lo - a : hi - a] = True
    covered = int(mask.sum())
    if covered < b - a:
        out[~mask] = int(round(float(out[mask].mean())))
    return out, covered


@dataclass(frozen=True)
class Window:
    k: int
    samples: np.ndarray | None
    """int32, exactly one window long, when the window makes a clip."""
    coverage: float
    reason: str | None
    """None for a clip; GAP or SHORT otherwise."""


def cut(
    unit: FileUnit,
    data: FileData,
    cs: ClipSettings,
    load_next: Callable[[], FileData | None] | None = None,
) -> Iterator[Window]:
    """The windows `unit` owns, each a clip or a skip with its reason."""
    W, tol = cs.window, cs.tolerance_samples
    segments = list(data.segments)
    next_loaded = False
    for k in unit.windows:
        a, b = k * W, (k + 1) * W
        samples, covered = gather(segments, a, b)
        if covered < W - tol and load_next is not None and not next_loaded and b > max(s.end for s in segments):
            nxt = load_next()
            next_loaded = True
            if nxt is not None:
                segments += nxt.segments
                samples, covered = gather(segments, a, b)
        coverage = covered / W
        if covered <= tol:  # a sample or two past a file's end is not data worth a word
            yield Window(k, None, coverage, GAP)
        elif covered < W - tol:
            yield Window(k, None, coverage, SHORT)
        else:
            yield Window(k, samples, coverage, None)
