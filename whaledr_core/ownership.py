"""Which file serves which window, decided by what the files hold, not by their names.

The day's plan (`clips.plan_day`) is a first guess from names and listed sizes, made before anything
is downloaded; it is right on a normal day. OOI's own pipeline documents the days it is not
(ooi-hyd-tools, README "Known issues"): 64-sample stub files (152 of 622 files on one HYDBBA102 day)
and a "companion" file named 16 us after a real one, holding a short duplicate of its first seconds
(2016-07-20). Named within a millisecond of a real file, such a file would take the real file's
windows by its name and leave them empty, and the real file's data would be lost.

So every listed file is read, and each file's result says where its data lies (`FileResult.spans`).
Then, from those spans alone:

- `arbitrate` finds each window that the guess left with less data than the files hold (a `gap`
  or a `short` where another file's data covers it, or a window of a file that failed) and gives it
  to a repair unit: the files holding that window's data, the one holding most first (the longer,
  complete copy), merged with duplicate samples dropped (`clips.merge`). A normal day has none; a
  defect costs one more decode of the files involved.
- `account` says, for the day manifest, which file's data each window holds and why (`only data`,
  `longer copy` of an overlap, `merged`), what each file's data was used for, and checks the day's
  invariant: every second of data in every listed file is in a clip or in a skipped window with a
  reason. A file whose data is in neither is a named failure, never a silent `no_windows`.

Samples are counted at the clips' rate from the day's midnight, as everywhere in `clips`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .clips import ClipSettings, DayPlan, FileUnit, Skip, window_start
from .fileclips import FileResult, FileStatus

ONLY_DATA = "only data"
"""No other file holds data in the window."""
LONGER_COPY = "longer copy"
"""Other files hold data there too, all of it within this file's: they are copies of the same time."""
MERGED = "merged"
"""The window holds several files' data, none of which holds it all (a window across two files)."""

FAILURES = frozenset({Skip.BAD_FILE, Skip.NOT_FETCHED, Skip.ERROR})
"""Skip reasons that are a failed file's: the day is incomplete for them already."""


def coverage(spans: Iterable[tuple[int, int]], settings: ClipSettings) -> dict[int, int]:
    """Samples of each window of the day that `spans` cover (spans that do not overlap each other)."""
    W, end = settings.window, settings.window * settings.windows_per_day
    out: dict[int, int] = {}
    for a, b in spans:
        a, b = max(a, 0), min(b, end)
        for k in range(a // W, (b - 1) // W + 1) if a < b else ():
            out[k] = out.get(k, 0) + min(b, (k + 1) * W) - max(a, k * W)
    return out


def union(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass(frozen=True)
class Record:
    """What became of one window: a clip (`reason` None) or a skip, the samples it holds, and whose."""

    key: str
    name: str
    covered: int
    reason: str | None
    files: tuple[str, ...] = ()
    """Every file whose data the record may hold: its own, and a repair's others."""


def records(results: Iterable[FileResult], settings: ClipSettings) -> dict[int, Record]:
    """Each window's record in `results` (later results win: a repair's over its first guess)."""
    W = settings.window
    out: dict[int, Record] = {}
    for r in sorted(results, key=lambda r: r.repair is not None):
        files = (r.name, *r.also)
        for _, k, cov in r.clips:
            out[k] = Record(r.key, r.name, round(cov * W), None, files)
        for k, reason, cov in r.skipped:
            out[k] = Record(r.key, r.name, round(cov * W), reason, files)
    return out


def file_coverage(results: Iterable[FileResult], settings: ClipSettings) -> dict[str, dict[int, int]]:
    """Samples of each window that each read file's data covers (failed files hold nothing known)."""
    return {r.name: coverage(r.spans, settings) for r in results
            if r.repair is None and r.status == FileStatus.OK}


@dataclass(frozen=True)
class Arbitration:
    repairs: list[FileUnit]
    """Units that serve windows again from the files holding their data, in the day's order."""
    moved: dict[str, frozenset[int]]
    """For each unit's key, the windows a repair serves instead of it."""

    def apply(self, results: Sequence[FileResult], repaired: Sequence[FileResult] = ()) -> list[FileResult]:
        """`results` without the windows the repairs took, and the repairs' results: each window of
        the day in exactly one result again. Applying it twice changes nothing."""
        out = []
        for r in results:
            gone = self.moved.get(r.key, frozenset())
            if gone and r.repair is None:
                r = dataclasses.replace(
                    r, clips=[c for c in r.clips if c[1] not in gone],
                    skipped=[s for s in r.skipped if s[0] not in gone],
                    scores={k: v for k, v in r.scores.items() if k not in gone},
                    columns={k: v for k, v in r.columns.items() if k not in gone})
            out.append(r)
        keys = {r.key for r in repaired}
        return [r for r in out if r.key not in keys] + list(repaired)


def arbitrate(plan: DayPlan, results: Sequence[FileResult], settings: ClipSettings) -> Arbitration:
    """The repairs the files' data asks for, after the plan's units were read (a pure function of
    the spans and the windows' records). A window is served again when the files hold more of its
    data than its record does: a `gap` or `short` window, a window of a failed file, or one no file
    owned by name. A clip stays as it is."""
    tol = settings.tolerance_samples
    per_file = file_coverage(results, settings)
    held = coverage(union(s for r in results if r.repair is None and r.status == FileStatus.OK for s in r.spans),
                    settings)
    recs = records(results, settings)
    need = sorted(k for k, u in held.items() if u > (recs[k].covered if k in recs else 0) + tol)
    files = {u.file.name: u.file for u in plan.units}
    total = {name: sum(cov.values()) for name, cov in per_file.items()}
    in_window = by_window(per_file)
    repairs: list[FileUnit] = []
    moved: dict[str, set[int]] = {}
    group: list[int] = []
    holders: frozenset[str] = frozenset()
    for i, k in enumerate(need):
        group.append(k)
        holders |= set(in_window[k])
        nxt = need[i + 1] if i + 1 < len(need) else None
        if nxt == k + 1 and set(in_window[nxt]) & holders:  # the same files' data goes on: one unit
            continue
        ranked = sorted(holders, key=lambda f: (-sum(per_file[f].get(j, 0) for j in group), -total[f],
                                                files[f].start, f))
        first, last = group[0], group[-1] + 1
        why = (f"{len(group)} windows from {_hms(plan.day, first, settings)} to {_hms(plan.day, last, settings)}, "
               f"whose data the plan by names left unused, from {', '.join(ranked)}")
        repairs.append(FileUnit(files[ranked[0]], first, last, also=tuple(files[f] for f in ranked[1:]), repair=why))
        for j in group:
            if j in recs:
                moved.setdefault(recs[j].key, set()).add(j)
        group, holders = [], frozenset()
    return Arbitration(repairs, {key: frozenset(ks) for key, ks in moved.items()})


def _hms(day: dt.date, k: int, settings: ClipSettings) -> str:
    return window_start(day, k, settings).strftime("%H:%M:%S")


@dataclass(frozen=True)
class Accounting:
    served: list[dict[str, Any]]
    """Ranges of windows whose record holds data, with the file whose data it holds, the others
    whose data lies there too (`with`), and why (`ONLY_DATA`, `LONGER_COPY`, `MERGED`)."""
    files: dict[str, dict[str, Any]]
    """For each read file: its data's seconds in the day, the windows it serves and what its data
    was used for, in words."""
    unaccounted: dict[str, float]
    """Files holding data (seconds) that no clip or skipped window holds: each a failure of the day."""
    data_seconds: float
    """Seconds of the day that some file holds data for."""


def account(results: Sequence[FileResult], day: dt.date, settings: ClipSettings) -> Accounting:
    """Which file's data each window holds and why, what each file's data was used for, and the
    invariant: every window in which the files hold more than `tolerance_samples` is a clip, or a
    skipped window that holds at least as much of that data (its reason says why it is no clip), or
    a window of a failed file (the day is incomplete for it already). A file holding no more than
    the tolerance in a window (a file's last sample in the next file's first window) is not named
    beside the file that serves it."""
    W, tol, rate = settings.window, settings.tolerance_samples, settings.sample_rate
    per_file = file_coverage(results, settings)
    in_window = by_window(per_file)
    joined = union(s for r in results if r.repair is None and r.status == FileStatus.OK for s in r.spans)
    held = coverage(joined, settings)
    recs = records(results, settings)
    window_reason: dict[int, tuple[str, tuple[str, ...], str]] = {}
    missing: dict[str, int] = {}
    beside: dict[str, set[str]] = {}
    # for each file, the files serving the windows its data lies in
    for k, u in sorted(held.items()):
        rec = recs.get(k)
        if rec is not None and rec.reason in FAILURES:
            continue
        holders = in_window.get(k, {})
        if u > tol and (rec is None or rec.reason == Skip.GAP or rec.covered < u - tol):
            for name in set(holders) - set(rec.files if rec else ()):
                missing[name] = missing.get(name, 0) + holders[name]
            continue
        if rec is None or rec.covered == 0 or rec.reason == Skip.GAP:
            continue
        others = tuple(sorted(name for name, n in holders.items() if n > tol and name != rec.name))
        why = ONLY_DATA if not others else LONGER_COPY if holders.get(rec.name, 0) >= u - tol else MERGED
        window_reason[k] = (rec.name, others, why)
        for name in holders:
            if name != rec.name:
                beside.setdefault(name, set()).add(rec.name)
    serves: dict[str, int] = {}
    completes: dict[str, int] = {}
    for who, others, why in window_reason.values():
        serves[who] = serves.get(who, 0) + 1
        for name in others:
            completes[name] = completes.get(name, 0) + (why == MERGED)
    files: dict[str, dict[str, Any]] = {}
    for name, cov in per_file.items():
        seconds = sum(cov.values()) / rate
        files[name] = {"data_seconds": round(seconds, 6), "windows_served": serves.get(name, 0),
                       "use": _use(seconds, serves.get(name, 0), completes.get(name, 0),
                                   sorted(beside.get(name, ())), name in missing, tol)}
    end = W * settings.windows_per_day
    return Accounting(_ranges(window_reason, day, settings), files,
                      {n: round(s / rate, 6) for n, s in missing.items()},
                      round(sum(min(b, end) - max(a, 0) for a, b in joined if b > 0 and a < end) / rate, 6))


def by_window(per_file: dict[str, dict[int, int]]) -> dict[int, dict[str, int]]:
    """The same coverage, window first: which files hold how many samples of each window."""
    out: dict[int, dict[str, int]] = {}
    for name, cov in per_file.items():
        for k, n in cov.items():
            out.setdefault(k, {})[name] = n
    return out


def _use(seconds: float, serves: int, completes: int, beside: list[str], missing: bool, tol: int) -> str:
    """What a file's data was used for, in words, for its entry in the day manifest."""
    if missing:
        return f"holds {seconds:.3f} s of data that no clip or skipped window holds"
    if seconds == 0:
        return "holds no data in the day"
    if not serves and not beside:
        return (f"its {seconds:.6f} s of data are no more than a gap's tolerance ({tol} samples) in each window "
                "they touch, skipped as gap")
    if serves:
        more = f"; completes {completes} windows of {', '.join(beside)}" if completes else ""
        return f"serves {serves} windows{more}"
    if completes:
        return f"completes {completes} windows of {', '.join(beside)}"
    return f"its {seconds:.3f} s of data lie in windows served by {', '.join(beside)}, which hold them too"


def _ranges(window_reason: dict[int, tuple[str, tuple[str, ...], str]], day: dt.date,
            settings: ClipSettings) -> list[dict[str, Any]]:
    """Consecutive windows with the same file, companions and reason, as one range."""
    runs: list[list[Any]] = []  # first window, windows, (file, with, reason)
    for k in sorted(window_reason):
        what = window_reason[k]
        if runs and runs[-1][0] + runs[-1][1] == k and runs[-1][2] == what:
            runs[-1][1] += 1
        else:
            runs.append([k, 1, what])
    return [{"start": _iso(day, k, settings), "end": _iso(day, k + n, settings), "windows": n, "file": who,
             "with": list(others), "reason": why} for k, n, (who, others, why) in runs]


def _iso(day: dt.date, k: int, settings: ClipSettings) -> str:
    return window_start(day, k, settings).strftime("%Y-%m-%dT%H:%M:%SZ")
