"""One unit of work: a file's owned windows -> clips in the sink, and a small record of what happened.

This is what a worker process runs. It takes paths and settings and returns a `FileResult` of a few
kilobytes; the samples never leave the process.
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from . import __version__
from .catalog import UnknownHydrophone, get_hydrophone
from .clips import (
    BadFile,
    ClipSettings,
    FileData,
    FileUnit,
    Skip,
    cut,
    gather,
    merge,
    read_file,
    shortfall_note,
    window_start,
)
from .naming import clip_key, clip_stem, sample_id
from .overview import window_column
from .render import RenderSettings, WavInfo, db_limits, encode_image, spectrogram_db, to_levels, wav_bytes
from .score import Floor, Peaks, clip_peaks, file_floor, file_peaks, file_scores, floor_levels
from .sinks import Sink

WAV_TYPE = "audio/wav"
NOT_STORED = "not_stored"
"""A skip reason: a whole window, scored, whose clip was not chosen for storing (`render_only`)."""


class FileStatus(StrEnum):
    """What became of a file's owned windows: the day manifest's `files[].status`."""

    OK = "ok"
    """Every owned window is a clip in the sink or a skip with a reason."""
    FAILED = "failed"
    """The file could not be had or read, or a clip could not be stored: see its error."""


@dataclass
class FileResult:
    name: str
    url: str
    size: int | None
    first_window: int
    end_window: int
    status: FileStatus = FileStatus.OK
    error: str | None = None
    clips: list[tuple[str, int, float]] = field(default_factory=list)
    """(sample ID, window index, coverage) of each clip that is in the sink."""
    skipped: list[tuple[int, str, float]] = field(default_factory=list)
    """(window index, reason, coverage)."""
    written: int = 0
    present: int = 0
    """Clips found complete in the sink and not rendered again."""
    png_bytes: int = 0
    """Bytes of the clips' images, JPEG or PNG (the name stays: day manifests' totals carry it)."""
    wav_bytes: int = 0
    traces: int = 0
    duplicates: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    reused: bool = False
    """Taken from the previous run's day manifest without touching the file."""
    peak_rss_mib: float = 0.0
    """The worker process's peak resident memory when this file was done (all files it did so far)."""
    next_missing: bool = False
    """A window ran into the next file, which could not be had: a rerun must look at this file again."""
    scores: dict[int, float] = field(default_factory=dict)
    """Call score (see `score`) of every window with data: clips, clips already stored, short windows."""
    peaks: dict[int, Peaks] = field(default_factory=dict)
    """The detectors that stand out in each window and when (`score.file_peaks`): the day's look for sounds a
    machine repeats (`recurring`) needs them beside the scores."""
    columns: dict[int, Any] = field(default_factory=dict)
    """The day overview's column (`overview.window_column`, float16) of every scored window; not in the manifest."""
    spans: list[tuple[int, int]] = field(default_factory=list)
    """Where the file's data lies: [start, end) samples from midnight at the clips' rate, one per
    continuous run (a repair's result holds none: its files' own results do)."""
    key: str = ""
    """The unit's key (`FileUnit.key`): the file's name, or a repair's."""
    also: list[str] = field(default_factory=list)
    """A repair's other files, whose data is merged with this file's."""
    repair: str | None = None
    """Why a repair served these windows again; None for a file of the day's plan."""
    objects: list[tuple[str, str, str]] = field(default_factory=list)
    """(sample ID, key, content type) of every object this run wrote, in order: what a staged
    result's upload moves into the output (`upload.Staged`); not in the manifest."""

    def __post_init__(self) -> None:
        self.key = self.key or self.name


def new_result(unit: FileUnit) -> FileResult:
    """An empty record of `unit`, saying which unit it is."""
    return FileResult(unit.file.name, unit.file.url, unit.file.size, unit.first_window, unit.end_window,
                      key=unit.key, also=[f.name for f in unit.also], repair=unit.repair)


def clip_ids(unit: FileUnit, day: dt.date, node: str, clip_settings: ClipSettings) -> dict[int, str]:
    return {
        k: sample_id(node, day, clip_stem(unit.file.codes, window_start(day, k, clip_settings))) for k in unit.windows
    }


def failed(unit: FileUnit, reason: str, error: str) -> FileResult:
    """Every window the unit owns, skipped for `reason`: a file that failed is never a silent hole."""
    r = new_result(unit)
    r.status, r.error = FileStatus.FAILED, error
    r.skipped = [(k, reason, 0.0) for k in unit.windows]
    return r


def stored_ids(
    existing: Mapping[str, int], prefix: str, ids: Iterable[str], wav_size: int, image_ext: str
) -> set[str]:
    """IDs whose WAV has exactly the expected size and whose image (`image_ext`) is not empty.

    Both sinks write atomically, so anything else is a clip made with other settings (or by hand):
    it is rendered again rather than trusted.
    """
    return {
        sid for sid in ids
        if existing.get(clip_key(prefix, sid, "wav")) == wav_size
        and existing.get(clip_key(prefix, sid, image_ext), 0) > 0
    }


def process_file(
    unit: FileUnit,
    path: str,
    next_path: Callable[[], str | None] | None,
    day: dt.date,
    node: str,
    sink: Sink,
    clip_settings: ClipSettings,
    render_settings: RenderSettings,
    done: Set[str] = frozenset(),
    render_only: Set[int] | None = None,
    score_all: bool = True,
    also_paths: Sequence[str] = (),
) -> FileResult:
    """Clips for the windows `unit` owns, except the IDs in `done` (already stored). The result
    reports where the file's data lies (`spans`) even when the unit owns no window.

    A repair unit (`unit.repair`) reads its file and its `also` files (`also_paths`, in the same order)
    and merges them, the first's samples preferred (`clips.merge`).

    With `render_only`, a window outside it that is not in `done` is scored but neither encoded nor
    stored: it is skipped as NOT_STORED. That is the first pass of a day with a top budget, which
    must see every score before it knows which windows to encode. Its second pass sets `score_all`
    False: then only the windows it encodes are drawn and scored (the first pass has the others'
    scores, `with_first_pass`), and the file's decode is all it costs again.

    `next_path` gives the next file's local path; it is called only when a window runs into that
    file, since fetching it may mean a download. A clip is listed in the result only once both its
    WAV and its image are stored.
    """
    t_start = time.perf_counter()
    if unit.file.problem is not None:  # listed, but unusable as such: a failed file, never a silent skip
        return failed(unit, Skip.BAD_FILE, f"{unit.file.name}: {unit.file.problem}")
    ids = clip_ids(unit, day, node, clip_settings)
    r = new_result(unit)
    t0 = time.perf_counter()
    reading = unit.file.name
    try:
        data = read_file(path, day, clip_settings).named(unit.file.name)
        others = []
        for f, p in zip(unit.also, also_paths, strict=True):
            reading = f.name
            others.append(read_file(p, day, clip_settings).named(f.name))
    except BadFile as e:
        out = failed(unit, Skip.BAD_FILE, f"{reading}: {e}")
        out.seconds = {"decode": time.perf_counter() - t0}
        return out
    decode = time.perf_counter() - t0
    if unit.repair is not None:
        segments, merge_notes = merge([data, *others])
        data = FileData(segments, 0, notes=[f"serves again {unit.repair}", *merge_notes])
    else:
        r.spans = data.spans
        r.traces, r.duplicates = data.traces, data.duplicates
    r.notes = list(data.notes)
    if unit.file.note and unit.repair is None:
        r.notes.insert(0, unit.file.note)
    if data.other_rate:
        r.notes.append(f"{data.other_rate} traces at another sampling rate ignored")
    short = shortfall_note(unit, data, day, clip_settings)
    if short:
        r.notes.append(short)
    if not unit.windows:  # read for its data only: `ownership.arbitrate` decides what it serves
        r.seconds = {"decode": decode, "total": time.perf_counter() - t_start}
        r.peak_rss_mib = peak_rss_mib()
        return r
    provenance = _provenance(node)

    def load_next():
        nxt = unit.next_file
        where = next_path() if next_path is not None and nxt is not None else None
        try:
            if where is not None and nxt is not None:
                return read_file(where, day, clip_settings, head_seconds=clip_settings.clip_seconds + 1,
                                 start=nxt.start).named(nxt.name)
        except BadFile:
            pass
        r.next_missing = True
        return None

    spent = {"image": 0.0, "wav": 0.0, "write": 0.0, "score": 0.0}
    image = render_settings.image
    t = time.perf_counter()
    needs_floor = score_all or render_settings.db_policy == "floor"
    floor = _floor(data.segments, render_settings, clip_settings) if needs_floor else None
    spent["score"] += time.perf_counter() - t

    responses: dict[int, np.ndarray] = {}  # the detectors' values of every window; the file scales them
    seconds: dict[int, np.ndarray] = {}  # and when each found its best

    def score(k: int, db) -> None:
        t = time.perf_counter()
        if floor is not None and score_all:  # a second pass keeps the first's scores: they need every window
            at = floor.at((k + 0.5) * clip_settings.clip_seconds)
            responses[k], seconds[k] = clip_peaks(db, at, render_settings, clip_settings.sample_rate)
            seconds[k] += k * clip_settings.clip_seconds  # since midnight: the day's look compares files
        r.columns[k] = window_column(db).astype(np.float16)
        spent["score"] += time.perf_counter() - t

    with _Storer(sink) as store:
        for w in cut(unit, data, clip_settings, load_next if unit.next_file is not None else None):
            if w.reason is not None:
                r.skipped.append((w.k, w.reason, round(w.coverage, 6)))
                if w.reason == Skip.SHORT and score_all:  # some data: scored too, gaps mean-filled as a clip's are
                    part, _ = gather(data.segments, w.k * clip_settings.window, (w.k + 1) * clip_settings.window)
                    if part is not None:
                        score(w.k, spectrogram_db(part, render_settings, clip_settings.sample_rate))
                continue
            sid, samples = ids[w.k], w.samples
            assert samples is not None  # a window without a reason is a clip, which has its samples
            stored = render_only is None or w.k in render_only
            db = None
            if score_all or stored:  # a second pass leaves the windows it does not store: the first scored them
                t = time.perf_counter()
                db = spectrogram_db(samples, render_settings, clip_settings.sample_rate)
                spent["image"] += time.perf_counter() - t
                score(w.k, db)
            if sid in done:
                r.present += 1
                r.clips.append((sid, w.k, round(w.coverage, 6)))
                continue
            if not stored:
                r.skipped.append((w.k, NOT_STORED, round(w.coverage, 6)))
                continue
            assert db is not None  # a window to store was drawn above
            t = time.perf_counter()
            levels = _levels(db, w.k, floor, render_settings, clip_settings)
            picture = encode_image(levels, render_settings, clip_settings.sample_rate, clip_settings.clip_seconds)
            t1 = time.perf_counter()
            start = window_start(day, w.k, clip_settings).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            wav = wav_bytes(samples, render_settings, clip_settings.sample_rate, provenance(sid, start, w.sources))
            t2 = time.perf_counter()
            store.add((sid, w.k, round(w.coverage, 6)), [
                # WAV first: the image is what a volunteer sees, so it appears only with its sound beside it
                (clip_key(sink.prefix, sid, "wav"), wav, WAV_TYPE),
                (clip_key(sink.prefix, sid, image.extension), picture, image.content_type),
            ])
            spent["image"] += t1 - t
            spent["wav"] += t2 - t1
            spent["write"] += time.perf_counter() - t2
            r.png_bytes += len(picture)
            r.wav_bytes += len(wav)
        t3 = time.perf_counter()
    spent["write"] += time.perf_counter() - t3
    t = time.perf_counter()
    r.scores = file_scores(responses)
    r.peaks = file_peaks(responses, seconds)
    spent["score"] += time.perf_counter() - t
    r.clips += store.stored
    r.written = len(store.stored)
    r.objects = store.objects
    if store.failed:
        r.status = FileStatus.FAILED
        r.error = f"{unit.file.name}: {len(store.failed)} clips not stored, first: {store.failed[0][1]}"
        r.skipped += [(k, Skip.ERROR, cov) for (_, k, cov), _ in store.failed]
    r.clips.sort(key=lambda c: c[1])
    r.skipped.sort(key=lambda s: s[0])
    r.seconds = {"decode": decode, **spent, "total": time.perf_counter() - t_start}
    r.peak_rss_mib = peak_rss_mib()
    return r


def _provenance(node: str) -> Callable[[str, str, tuple[str, ...]], WavInfo]:
    """What each clip's WAV says of itself (`render.WavInfo`): the hydrophone's reference designator
    (the node's own code when the catalog does not know it) and this software's version."""
    try:
        refdes = get_hydrophone(node).refdes
    except UnknownHydrophone:
        refdes = node
    software = f"whaledr-pipeline {__version__}"
    return lambda sid, start, sources: WavInfo(sid, start, refdes, sources, software)


def with_first_pass(second: FileResult, first: FileResult) -> FileResult:
    """A second pass's result (`score_all` False) with the scores and overview columns of the first."""
    second.scores = {**first.scores, **second.scores}
    second.peaks = {**first.peaks, **second.peaks}
    second.columns = {**first.columns, **second.columns}
    return second


def with_upload(r: FileResult, failed: Mapping[str, str], seconds: float = 0.0) -> FileResult:
    """A staged result once its upload ended: a clip whose objects did not all reach the output
    (`failed`: sample ID -> error) is no clip but a window skipped for an error, and the file failed;
    no manifest lists a sample that is not stored."""
    r.seconds["upload"] = seconds
    if not failed:
        return r
    lost = [c for c in r.clips if c[0] in failed]
    r.clips = [c for c in r.clips if c[0] not in failed]
    r.written -= len(lost)
    r.skipped = sorted(r.skipped + [(k, Skip.ERROR, cov) for _, k, cov in lost], key=lambda s: s[0])
    r.status = FileStatus.FAILED
    first = next(iter(failed.items()))
    r.error = f"{r.name}: {len(lost)} clips not uploaded, first: {first[0]}: {first[1]}"
    return r


def _levels(db, k: int, floor: Floor | None, render_settings: RenderSettings, clip_settings: ClipSettings):
    """Palette indices of a clip: from its own dB limits, or over the file's floor ("floor" contrast;
    the clip's own median per row when the file is too short for a floor)."""
    if render_settings.db_policy != "floor":
        return to_levels(db, *db_limits(db, render_settings))
    row = floor.at((k + 0.5) * clip_settings.clip_seconds) if floor is not None else np.median(db, axis=1)
    return floor_levels(db, row)


def _floor(segments, render_settings: RenderSettings, clip_settings: ClipSettings) -> Floor | None:
    """The file's noise floor for the scores; None when no stretch of data is long enough for one frame."""
    try:
        return file_floor(((seg.start, seg.data) for seg in segments), render_settings, clip_settings.sample_rate)
    except ValueError:
        return None


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started its program.

    Linux's VmHWM, not getrusage's ru_maxrss: the latter survives exec, so a spawned worker would
    report its parent's peak if that was higher.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


Clip = tuple[str, int, float]


class _Storer:
    """Stores each clip's objects in order; several clips at once when the sink is remote.

    At most twice the sink's concurrency of clips wait in memory (~1.7 MB each), so a slow store
    slows rendering down instead of filling the worker's memory.
    """

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        n = max(1, getattr(sink, "concurrency", 1))
        self.pool = ThreadPoolExecutor(n, thread_name_prefix="store") if n > 1 else None
        self.window = 2 * n
        self.pending: deque[tuple[Clip, Callable[[], None], list[tuple[str, bytes, str]]]] = deque()
        self.stored: list[Clip] = []
        self.objects: list[tuple[str, str, str]] = []
        """(sample ID, key, content type) of the stored clips' objects, in order."""
        self.failed: list[tuple[Clip, str]] = []

    def _put_all(self, objects: list[tuple[str, bytes, str]]) -> None:
        for key, data, content_type in objects:
            self.sink.put(key, data, content_type)

    def add(self, clip: Clip, objects: list[tuple[str, bytes, str]]) -> None:
        if self.pool is None:
            self._settle(clip, lambda: self._put_all(objects), objects)
            return
        while len(self.pending) >= self.window:
            self._settle(*self.pending.popleft())
        self.pending.append((clip, self.pool.submit(self._put_all, objects).result, objects))

    def _settle(self, clip: Clip, outcome: Callable[[], None], objects: list[tuple[str, bytes, str]]) -> None:
        """Record the clip as stored, or as failed with the error its puts raised."""
        try:
            outcome()
            self.stored.append(clip)
            self.objects += [(clip[0], key, content_type) for key, _, content_type in objects]
        except Exception as e:
            self.failed.append((clip, f"{type(e).__name__}: {e}"))

    def __enter__(self) -> _Storer:
        return self

    def __exit__(self, *exc) -> None:
        while self.pending:
            self._settle(*self.pending.popleft())
        if self.pool is not None:
            self.pool.shutdown(wait=True)
