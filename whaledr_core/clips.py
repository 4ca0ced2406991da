"""From miniSEED files to clips on a fixed UTC grid, with every window of the day accounted for.

Time is counted in samples from the day's midnight ("day index"), so that a clip is a slice and a
gap is an integer. Window k covers day indices [k*W, (k+1)*W) with W = clip seconds x rate.

Every listed file is read: it is one unit of work. The plan (`plan_day`) is a first guess, from names
and listed sizes only, of which file serves which window: the last file whose start (from its name)
is at or before the window's start, give or take `tolerance_samples`; a file named within one clip of
a larger one (a 64-sample stub, a "companion" holding a short duplicate: ooi-hyd-tools' known issues)
serves no window in the guess and is read for its data alone. A window's owner reads its own file
whole and, only when a window runs past its data and the next file starts mid-window, the head of the
next file. Names are not data: once every file is read, `ownership.arbitrate` checks the guess against
the data's spans and serves again, from the files that hold it, any window the guess left short.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from .catalog import FILE_SECONDS, SAMPLE_RATE
from .listing import RawFile

DAY_SECONDS = 86_400

class Skip(StrEnum):
    """Why a window of the day is not a clip: the day manifest's `skipped[].reason`."""

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
    """The clips' rate; files recorded at an integer multiple of it are resampled to it."""
    file_seconds: int = FILE_SECONDS
    """The longest a file lasts, used only to ask whether the previous day's last file may reach into
    this day. A file's own length always comes from its data (June 2025 has 1-minute files)."""
    jitter_seconds: float = 0.5
    """The most a packet's start label may stray from where the packets before it end: per-packet
    labels jitter by up to ~0.25 s (ooipy issue 174), so two neighbours by up to 0.5 s. It bounds the
    tolerance `assemble` takes from each file's own labels (their largest overlap); it is not the
    tolerance itself, so holes in a file whose labels do not jitter are found to the sample."""

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
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def day_index(t: dt.datetime, day: dt.date, rate: int) -> int:
    """Samples from midnight to `t`, rounded; exact in integers (microseconds)."""
    delta = t - midnight(day)
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (us * rate + 500_000) // 1_000_000


def window_start(day: dt.date, k: int, settings: ClipSettings) -> dt.datetime:
    return midnight(day) + dt.timedelta(seconds=k * settings.clip_seconds)


@dataclass(frozen=True)
class FileUnit:
    """One file and the windows it owns: the unit of work handed to a worker. A unit that owns no
    window is still read: its data's spans go to `ownership.arbitrate`."""

    file: RawFile
    first_window: int
    end_window: int
    """Owned windows are first_window <= k < end_window."""
    next_file: RawFile | None = None
    """Set only when a window owned here may need the head of the next file."""
    from_previous_day: bool = False
    next_start: dt.datetime | None = None
    """The next listed file's start: how long this file would have to be to leave no hole."""
    also: tuple[RawFile, ...] = ()
    """A repair (`ownership.arbitrate`): the other files whose data is merged with `file`'s, in the
    order their samples are preferred after `file`'s."""
    repair: str | None = None
    """Why a repair serves these windows again; None for a unit of the day's plan."""

    @property
    def windows(self) -> range:
        return range(self.first_window, self.end_window)

    @property
    def key(self) -> str:
        """Names the unit among the day's: its file's name, or for a repair, its files and first window."""
        if self.repair is None:
            return self.file.name
        return "+".join([self.file.name, *(f.name for f in self.also)]) + f"#{self.first_window}"


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


def gives_way(files: Sequence[RawFile], settings: ClipSettings) -> set[str]:
    """Names of files that serve no window in the first guess: named within one clip of another file
    that is listed larger. OOI's own pipeline documents such files (ooi-hyd-tools, README "Known
    issues"): 64-sample stubs (152 of 622 files on one HYDBBA102 day) and a "companion" file named
    16 us after a real one holding a short duplicate of its start (2016-07-20). By its name alone a
    stub would take the real file's windows; it is still read, and data only it holds is served
    (`ownership.arbitrate`). Without sizes (a plain listing) names decide, and arbitration mends."""
    ordered = sorted(files, key=lambda f: (f.start, f.name))
    near = dt.timedelta(seconds=settings.clip_seconds)
    out: set[str] = set()
    for i, f in enumerate(ordered):
        if f.size is None:
            continue
        lo, hi = i, i + 1
        while lo > 0 and f.start - ordered[lo - 1].start < near:
            lo -= 1
        while hi < len(ordered) and ordered[hi].start - f.start < near:
            hi += 1
        if any(g.size is not None and g.size > f.size for g in ordered[lo:hi]):
            out.add(f.name)
    return out


def plan_day(
    day: dt.date, files: Sequence[RawFile], settings: ClipSettings, previous: RawFile | None = None
) -> DayPlan:
    """Give each window of `day` to one file, a first guess from names and sizes; `previous` is the
    last file of the day before. Every usable file is a unit: those that own no window are read for
    their data (`ownership.arbitrate` decides what it serves).

    The previous day's last file is used only when its nominal end reaches into this day by more
    than the tolerance (it started late after a gap): a file that ends on midnight is not fetched.
    """
    W, tol, n = settings.window, settings.tolerance_samples, settings.windows_per_day
    ordered = sorted(files, key=lambda f: (f.start, f.name))
    usable = [f for f in ordered if f.problem is None]
    aside = gives_way(usable, settings)
    candidates: list[tuple[RawFile, bool]] = [(f, False) for f in usable if f.name not in aside]
    if previous is not None and previous.problem is None:
        spill = day_index(previous.start, day, settings.sample_rate) + settings.file_seconds * settings.sample_rate
        if spill > tol:
            candidates.insert(0, (previous, True))
    starts = [day_index(f.start, day, settings.sample_rate) for f, _ in candidates]
    units: list[FileUnit] = []
    read_only: list[FileUnit] = []
    for i, (f, prev_day) in enumerate(candidates):
        lo = max(0, _ceil_div(starts[i] - tol, W))
        nxt = starts[i + 1] if i + 1 < len(starts) else None
        hi = n if nxt is None else min(n, max(0, _ceil_div(nxt - tol, W)))
        if lo >= hi:  # named too close to the next: read for its data all the same
            if not prev_day:
                read_only.append(FileUnit(f, 0, 0))
            continue
        straddle = nxt is not None and tol < (nxt % W) < W - tol
        next_start = candidates[i + 1][0].start if i + 1 < len(candidates) else None
        units.append(FileUnit(f, lo, hi, candidates[i + 1][0] if straddle else None, prev_day, next_start))
    first = units[0].first_window if units else n
    read_only += [FileUnit(f, 0, 0) for f in usable if f.name in aside]
    # a file that cannot be used owns no window, but is a unit: it fails, so the day says so
    units += sorted(read_only, key=lambda u: (u.file.start, u.file.name))
    units += [FileUnit(f, 0, 0) for f in ordered if f.problem is not None]
    return DayPlan(day, units, list(range(0, first)), list(ordered))


# --- reading files -----------------------------------------------------------------------------


@dataclass
class Segment:
    start: int
    """Day index of data[0]."""
    data: np.ndarray
    """int32 counts."""
    source: str = ""
    """The name of the file the samples come from (for a clip's provenance)."""

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

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Where the data lies on the day's axis: [start, end) day indices, one per continuous run."""
        return [(s.start, s.end) for s in self.segments]

    def named(self, source: str) -> FileData:
        """The same data, each segment saying which file it came from."""
        for s in self.segments:
            s.source = source
        return self


class BadFile(ValueError):
    """A file that cannot give clips: not miniSEED, no numeric samples, a rate we cannot resample, no samples."""


def read_file(
    path: str, day: dt.date, settings: ClipSettings, head_seconds: float | None = None, start: dt.datetime | None = None
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
        data = assemble(stream, day, settings)
    # obspy's warnings about a damaged file belong to that file's record, not to the worker's stderr
    data.notes += list(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))[:5]
    return data


def assemble(stream, day: dt.date, settings: ClipSettings) -> FileData:
    """Put a file's traces on the day's sample axis, at the clips' rate.

    What a file holds depends on the era of OOI's driver (ooipy issue 174, OOI's mi-instrument
    driver history): one trace (before June 2023); up to 1,200 traces that all carry the first
    packet's start (June to about December 2023); one trace per packet whose start label jitters by
    up to ~0.25 s (since); one trace per packet whose labels step exactly one packet at a time (the
    256 kHz files of June 2025). Exact duplicate packets are dropped first, then `_place` follows
    OOI's repair rule (ooi-hyd-tools `thresholds.py`, 2026): the sample count decides whether
    anything is missing, the labels only locate real breaks. Each continuous run is resampled on its
    own, so a hole never moves a later sample.
    """
    traces = [tr for tr in stream if tr.stats.npts > 0]
    if not traces:
        raise BadFile("no samples")
    numeric = [tr for tr in traces if tr.data.dtype.kind in "iuf"]
    if not numeric:
        encodings = sorted({str(getattr(tr.stats, "mseed", {}).get("encoding", tr.data.dtype)) for tr in traces})
        raise BadFile(f"no numeric samples: the traces are encoded as {', '.join(encodings)} (text, not counts)")
    main = _main_id(numeric)
    notes: list[str] = []
    mine = [tr for tr in numeric if tr.id == main]
    if len(mine) < len(traces):  # another channel (or text), never merged into this one's series
        ids = sorted({tr.id for tr in traces if tr.id != main or tr.data.dtype.kind not in "iuf"})
        notes.append(f"{len(traces) - len(mine)} traces left out that are not the file's channel {main}: "
                     + ", ".join(ids))
    rate, factor = _rate(mine, settings.sample_rate)
    at_rate = [tr for tr in mine if abs(float(tr.stats.sampling_rate) - rate) < 1e-6]
    other = len(mine) - len(at_rate)
    if factor > 1:
        notes.append(f"recorded at {rate:g} Hz: resampled to {settings.sample_rate} Hz by scipy.signal.resample_poly "
                     f"(1/{factor}), each continuous run on its own")

    day0 = _ns(midnight(day))
    native = int(round(rate))
    items = [(_div_round((tr.stats.starttime.ns - day0) * native, 1_000_000_000), tr.data) for tr in at_rate]
    unique, dups = _drop_duplicates(items)
    segments = _place(unique, int(round(settings.jitter_seconds * native)), native, notes)
    if factor > 1:
        segments = [r for r in (_resample(s, factor) for s in segments) if len(r.data)]
    else:
        segments = [Segment(s.start, _int32(s.data)) for s in segments]
    return FileData(segments, len(traces), dups, other, notes)


def _ns(t: dt.datetime) -> int:
    return (t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) * 1000


def _div_round(a: int, b: int) -> int:
    return (2 * a + b) // (2 * b)


def _main_id(traces: list) -> str:
    """The channel holding the most samples (the first in the file on a tie): the file's own."""
    samples: dict[str, int] = {}
    for tr in traces:
        samples[tr.id] = samples.get(tr.id, 0) + tr.stats.npts
    return max(samples, key=lambda k: samples[k])


def _rate(traces: list, out: int) -> tuple[float, int]:
    """The file's rate (the one holding the most samples) and the factor down to `out`."""
    samples: dict[float, int] = {}
    for tr in traces:
        r = float(tr.stats.sampling_rate)
        samples[r] = samples.get(r, 0) + tr.stats.npts
    rate = max(samples, key=lambda k: samples[k])
    factor = rate / out
    if abs(factor - round(factor)) < 1e-9 and round(factor) >= 1:
        return rate, int(round(factor))
    raise BadFile(f"no {out} Hz trace (rates found: {sorted(samples)}); {rate:g} Hz is not an integer multiple "
                  f"of {out} Hz, so it cannot be resampled to it")


def _drop_duplicates(items: list[tuple[int, np.ndarray]]) -> tuple[list[tuple[int, np.ndarray]], int]:
    """Packets sent twice (same start, same samples), wherever they sit, in one pass.

    A key of start, length and the first and last samples finds the candidates; only those are
    compared whole. A shared-start file's 1,200 packets share a start, so comparing each with all
    those before it (as a key of start alone would) costs seconds per file.
    """
    unique: list[tuple[int, np.ndarray]] = []
    seen: dict[tuple[int, int, object, object], list[np.ndarray]] = {}
    dups = 0
    for start, data in items:
        twins = seen.setdefault((start, len(data), data[0].item(), data[-1].item()), [])
        if any(np.array_equal(t, data) for t in twins):
            dups += 1
            continue
        twins.append(data)
        unique.append((start, data))
    return unique, dups


LABEL_FLOOR = 2
"""Samples two labels may differ by and still mean the same time: labels carry microseconds and are
rounded to the sample grid (at 256 kHz a microsecond is a quarter of a sample)."""


def _place(items: list[tuple[int, np.ndarray]], cap: int, rate: int, notes: list[str]) -> list[Segment]:
    """Runs of packets without a hole, each on the day's axis (indices at the file's own `rate`).

    The tolerance comes from the file itself, not from a fixed figure: a label that claims its packet
    starts before the previous one ended is proof of a false claim (ooi-hyd-tools,
    docs/upstream-repair.md), so the largest such overlap (up to `cap`) is how far this file's labels
    may be trusted; labels that never overlap (they step exactly one packet at a time) are trusted
    to the sample (`LABEL_FLOOR`).

    Then the sample count first: when the traces add up to the span their labels cover, within that
    tolerance, nothing is missing, and they are joined in file order (OOI's CASE A; traces sharing
    one start, OOI's 2023 driver, are joined so too). Otherwise the labels locate the real breaks: a
    packet follows the run before it when its label lies within the tolerance of where the run
    expects it (its first label, moved by the mean jitter seen so far); a larger jump is a hole or an
    overlap when the next label agrees with it, and one stray label when the next returns to the run.
    The first run starts at its first label, as OOI's own concatenation does. A later run is placed
    by the median of its labels less their offsets and, when the labels jitter and the file's packets
    share one size, the hole is rounded to whole lost packets. No sample after a hole moves.
    """
    if any(b < a - cap for (a, _), (b, _) in zip(items, items[1:], strict=False)):
        items = sorted(items, key=lambda x: x[0])  # stable: jittered neighbours keep the file's order
        notes.append("traces out of time order in the file: taken in the order of their start labels")
    groups: list[tuple[int, list[np.ndarray], int]] = []  # label, packets, samples
    for start, data in items:
        if groups and start == groups[-1][0]:  # a shared start: this packet follows the one before
            groups[-1][1].append(data)
            groups[-1] = (start, groups[-1][1], groups[-1][2] + len(data))
        else:
            groups.append((start, [data], len(data)))
    shared = len(items) - len(groups)
    if shared:
        notes.append(f"{shared + 1} traces carry the first packet's start time (OOI's 2023 driver): concatenated "
                     "in file order, so the timing after the first packet is inferred")
    steps = [b[0] - a[0] - a[2] for a, b in zip(groups, groups[1:], strict=False)]
    jitter = max((-d for d in steps if -cap <= d < 0), default=0)
    tol = max(LABEL_FLOOR, jitter)
    count = sum(g[2] for g in groups)
    span = groups[-1][0] + groups[-1][2] - groups[0][0]
    if abs(span - count) <= tol and all(abs(d) <= cap for d in steps):
        parts = [p for g in groups for p in g[1]]
        return [Segment(groups[0][0], np.concatenate(parts) if len(parts) > 1 else parts[0])]

    runs = [_Run(groups[0][0], groups[0][1], groups[0][2])]
    overlaps = 0
    for i, (label, parts, length) in enumerate(groups[1:], start=1):
        run = runs[-1]
        dev = label - run.expected()
        if abs(dev) <= tol or not _confirmed(groups, i, run.expected() + length, tol):
            run.add(parts, length, label)
        elif dev > 0:
            runs.append(_Run(label, parts, length))
        else:  # overlaps what we have by more than the jitter: keep only what is new
            overlaps += 1
            new = np.concatenate(parts)[run.expected() - label :]
            if len(new):
                run.add([new], len(new), None)
    packet = _packet_size(items) if jitter > LABEL_FLOOR else None
    segments = [Segment(runs[0].label, runs[0].samples())]
    for run in runs[1:]:
        estimate = run.label + int(np.median(run.deviations))
        start = estimate
        if packet:
            lost = round((estimate - segments[-1].end) / packet)
            if lost >= 1 and abs(estimate - segments[-1].end - lost * packet) <= packet // 4:
                start = segments[-1].end + lost * packet
        segments.append(Segment(start, run.samples()))
    notes.append(f"{len(runs) - 1} gaps and {overlaps} overlaps between traces beyond the jitter tolerance "
                 f"({1000 * tol / rate:.3g} ms: the labels' largest overlap, {1000 * jitter / rate:.3g} ms)")
    return segments


def _confirmed(groups: list[tuple[int, list[np.ndarray], int]], i: int, run_next: int, tol: int) -> bool:
    """Whether the jump at packet `i` is real: the next label does not return to where the run
    would have it (`run_next`) had packet `i` followed it directly. The file's last packet has no
    witness; its jump stands."""
    if i + 1 >= len(groups):
        return True
    return abs(groups[i + 1][0] - run_next) > tol


class _Run:
    """Packets that follow one another, and how far each label strayed from where it was expected."""

    def __init__(self, label: int, parts: list[np.ndarray], length: int) -> None:
        self.label = label
        self.parts = list(parts)
        self.length = length
        self.deviations = [0]
        self._sum = 0

    def expected(self) -> int:
        return self.label + self.length + self._sum // len(self.deviations)

    def add(self, parts: list[np.ndarray], length: int, label: int | None) -> None:
        if label is not None:
            self.deviations.append(label - self.label - self.length)
            self._sum += self.deviations[-1]
        self.parts += parts
        self.length += length

    def samples(self) -> np.ndarray:
        return np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]


def _packet_size(items: list[tuple[int, np.ndarray]]) -> int | None:
    """The size most packets share (the last one of a file may be short), or None."""
    if len(items) < 3:
        return None
    sizes, counts = np.unique([len(d) for _, d in items], return_counts=True)
    best = int(np.argmax(counts))
    return int(sizes[best]) if counts[best] >= 0.8 * len(items) else None


def _int32(data: np.ndarray) -> np.ndarray:
    if data.dtype == np.int32:
        return data
    if data.dtype.kind == "f":
        data = np.round(data)
    return np.clip(data, -(2**31), 2**31 - 1).astype(np.int32)


def _resample(seg: Segment, factor: int) -> Segment:
    """A run at `factor` times the clips' rate, down to it (scipy's polyphase filter: anti-aliased).

    The run's first kept sample is the first on the clips' grid (up to factor - 1 samples before it
    are dropped), so every output sample sits exactly at the time of the input sample it stands for."""
    from scipy.signal import resample_poly

    skip = (-seg.start) % factor
    y = resample_poly(seg.data[skip:].astype(np.float32), 1, factor)
    return Segment((seg.start + skip) // factor, _int32(y))


def shortfall_note(unit: FileUnit, data: FileData, day: dt.date, settings: ClipSettings) -> str | None:
    """A note when a file holds less than the time until the next file starts: it was cut short
    or has holes. Its length is what its data says, never a nominal 5 minutes."""
    if unit.next_start is None:
        return None
    span = day_index(unit.next_start, day, settings.sample_rate) - day_index(unit.file.start, day, settings.sample_rate)
    held = data.samples
    if held >= span - 10 * settings.tolerance_samples:
        return None
    rate = settings.sample_rate
    return (f"holds {held / rate:.3f} s of data in the {span / rate:.3f} s before the next file starts "
            "(truncated, or gaps)")


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
    """None for a clip; Skip.GAP or Skip.SHORT otherwise."""
    sources: tuple[str, ...] = ()
    """The files whose samples a clip holds (`Segment.source`), first the one holding most."""


def sources(segments: Sequence[Segment], a: int, b: int) -> tuple[str, ...]:
    """The files whose samples lie in [a, b), the one holding most first."""
    held: dict[str, int] = {}
    for s in segments:
        if s.start < b and a < s.end and s.source:
            held[s.source] = held.get(s.source, 0) + min(b, s.end) - max(a, s.start)
    return tuple(sorted(held, key=lambda name: -held[name]))


def merge(parts: Sequence[FileData]) -> tuple[list[Segment], list[str]]:
    """Several files' data as one, the first part's samples preferred, then the second's where the
    first has none, and so on: duplicate samples are dropped, never added twice. Where two copies
    overlap with other values, the note says how many samples differed."""
    kept: list[Segment] = []
    differ: dict[tuple[str, str], int] = {}
    for fd in parts:
        for seg in fd.segments:
            free = [(seg.start, seg.end)]
            for k in kept:
                lo, hi = max(seg.start, k.start), min(seg.end, k.end)
                if lo >= hi:
                    continue
                mine, theirs = seg.data[lo - seg.start : hi - seg.start], k.data[lo - k.start : hi - k.start]
                n = int(np.count_nonzero(mine != theirs))
                if n:
                    differ[(seg.source, k.source)] = differ.get((seg.source, k.source), 0) + n
                free = [piece for a, b in free for piece in ((a, min(b, lo)), (max(a, hi), b)) if piece[0] < piece[1]]
            kept += [Segment(a, seg.data[a - seg.start : b - seg.start], seg.source) for a, b in free]
    notes = [f"{n} samples of {a} differ from {b}'s where their data overlap: {b}'s are used"
             for (a, b), n in differ.items()]
    return sorted(kept, key=lambda s: s.start), notes


def cut(
    unit: FileUnit,
    data: FileData,
    settings: ClipSettings,
    load_next: Callable[[], FileData | None] | None = None,
) -> Iterator[Window]:
    """The windows `unit` owns, each a clip or a skip with its reason."""
    W, tol = settings.window, settings.tolerance_samples
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
            yield Window(k, None, coverage, Skip.GAP)
        elif covered < W - tol:
            yield Window(k, None, coverage, Skip.SHORT)
        else:
            yield Window(k, samples, coverage, None, sources(segments, a, b))
