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
    """Per-packet start labels jitter by up to ~0.25 s (ooipy issue 174), and the label a run of
    packets is anchored on may itself be off by as much: a packet whose label lies within this of
    where the previous one ended follows it directly. Only larger jumps are real gaps or overlaps."""

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
    """One file and the windows it owns: the unit of work handed to a worker."""

    file: RawFile
    first_window: int
    end_window: int
    """Owned windows are first_window <= k < end_window."""
    next_file: RawFile | None = None
    """Set only when a window owned here may need the head of the next file."""
    from_previous_day: bool = False
    next_start: dt.datetime | None = None
    """The next listed file's start: how long this file would have to be to leave no hole."""

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
    day: dt.date, files: Sequence[RawFile], settings: ClipSettings, previous: RawFile | None = None
) -> DayPlan:
    """Give each window of `day` to one file; `previous` is the last file of the day before.

    The previous day's last file is used only when its nominal end reaches into this day by more
    than the tolerance (it started late after a gap): a file that ends on midnight is not fetched.
    """
    W, tol, n = settings.window, settings.tolerance_samples, settings.windows_per_day
    ordered = sorted(files, key=lambda f: (f.start, f.name))
    candidates: list[tuple[RawFile, bool]] = [(f, False) for f in ordered if f.problem is None]
    if previous is not None and previous.problem is None:
        spill = day_index(previous.start, day, settings.sample_rate) + settings.file_seconds * settings.sample_rate
        if spill > tol:
            candidates.insert(0, (previous, True))
    starts = [day_index(f.start, day, settings.sample_rate) for f, _ in candidates]
    units: list[FileUnit] = []
    for i, (f, prev_day) in enumerate(candidates):
        lo = max(0, _ceil_div(starts[i] - tol, W))
        nxt = starts[i + 1] if i + 1 < len(starts) else None
        hi = n if nxt is None else min(n, max(0, _ceil_div(nxt - tol, W)))
        if lo >= hi:
            continue
        straddle = nxt is not None and tol < (nxt % W) < W - tol
        next_start = candidates[i + 1][0].start if i + 1 < len(candidates) else None
        units.append(FileUnit(f, lo, hi, candidates[i + 1][0] if straddle else None, prev_day, next_start))
    first = units[0].first_window if units else n
    # a file that cannot be used owns no window, but is a unit: it fails, so the day says so
    units += [FileUnit(f, 0, 0) for f in ordered if f.problem is not None]
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
    packet's start (June to about December 2023); one trace per ~0.25 s packet whose start label
    jitters by up to ~0.25 s (since). Traces are taken in file order and each follows the one before
    when its label is the same (a shared start) or lies within `jitter_seconds` of where that one
    ended; only a larger jump is a gap or an overlap. Exact duplicate packets are dropped first.
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
                     f"(1/{factor})")

    day0 = _ns(midnight(day))
    native = int(round(rate))
    items = [(_div_round((tr.stats.starttime.ns - day0) * native, 1_000_000_000), tr.data) for tr in at_rate]
    unique, dups = _drop_duplicates(items)
    segments = _place(unique, int(round(settings.jitter_seconds * native)), notes)
    if factor > 1:
        segments = [_resample(s, factor) for s in segments]
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


def _place(items: list[tuple[int, np.ndarray]], tol: int, notes: list[str]) -> list[Segment]:
    """Runs of packets without a hole, each on the day's axis.

    A packet follows the one before when its label is the same (a shared start) or lies within `tol`
    of where the run expects it (its first label, moved by the mean jitter seen so far); a larger
    jump ends the run. The first run starts at its first label, as OOI's own concatenation does. A
    later run starts after a hole, and one jittered label would misplace it by up to the jitter: its
    start is the median of its labels less their offsets, and, when the file's packets share one
    size, the hole is rounded to whole lost packets.
    """
    if any(b < a - tol for (a, _), (b, _) in zip(items, items[1:], strict=False)):
        items = sorted(items, key=lambda x: x[0])  # stable: jittered neighbours keep the file's order
        notes.append("traces out of time order in the file: taken in the order of their start labels")
    runs: list[_Run] = []
    overlaps = shared = 0
    label_before = None
    for start, data in items:
        run = runs[-1] if runs else None
        if run is None:
            runs.append(_Run(start, data))
        elif start == label_before:
            shared += 1
            run.add(data, None)
        elif abs(start - run.expected()) <= tol:
            run.add(data, start)
        elif start > run.expected():
            runs.append(_Run(start, data))
        else:  # overlaps what we have by more than the jitter: keep only what is new
            overlaps += 1
            new = data[run.expected() - start :]
            if len(new):
                run.add(new, None)
        label_before = start
    packet = _packet_size(items)
    segments = [Segment(runs[0].label, runs[0].samples())]
    for run in runs[1:]:
        estimate = run.label + int(np.median(run.deviations))
        start = estimate
        if packet:
            lost = round((estimate - segments[-1].end) / packet)
            if lost >= 1 and abs(estimate - segments[-1].end - lost * packet) <= packet // 4:
                start = segments[-1].end + lost * packet
        segments.append(Segment(start, run.samples()))
    if shared:
        notes.append(f"{shared + 1} traces carry the first packet's start time (OOI's 2023 driver): concatenated "
                     "in file order, so the timing after the first packet is inferred")
    if len(runs) > 1 or overlaps:
        notes.append(f"{len(runs) - 1} gaps and {overlaps} overlaps between traces beyond the jitter tolerance")
    return segments


class _Run:
    """Packets that follow one another, and how far each label strayed from where it was expected."""

    def __init__(self, label: int, data: np.ndarray) -> None:
        self.label = label
        self.parts = [data]
        self.length = len(data)
        self.deviations = [0]
        self._sum = 0

    def expected(self) -> int:
        return self.label + self.length + self._sum // len(self.deviations)

    def add(self, data: np.ndarray, label: int | None) -> None:
        if label is not None:
            self.deviations.append(label - self.label - self.length)
            self._sum += self.deviations[-1]
        self.parts.append(data)
        self.length += len(data)

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
    """A run at `factor` times the clips' rate, down to it (scipy's polyphase filter: anti-aliased)."""
    from scipy.signal import resample_poly

    y = resample_poly(seg.data.astype(np.float32), 1, factor)
    return Segment(_div_round(seg.start, factor), _int32(y))


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
            yield Window(k, samples, coverage, None)
