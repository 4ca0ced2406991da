"""The per-day record: what was read, what became a clip, what was skipped and why.

Written last, so its presence means the day's run finished. It accounts for every window of the day
(clips + skipped windows = the whole day) and for every second of data in every file read (in a clip
or in a skipped window with a reason: `ownership.account`), says which file's data each window holds
and why (`served`), and it is what a rerun reads to leave finished files alone.
`clips` are the stored clips, each saying whether it is published; `published` gives, for every whole
window with data, why it is published or not (`publish` reasons); `scores` every window's call score,
`peaks` the detectors that stand out in a window and when, `recurring` those taken out of the day's ranking
as a machine's repeated sound (`recurring`). A whole window that was scored but not stored is skipped as
`not_stored`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence, Set
from dataclasses import asdict
from typing import Any

import numpy as np

from . import __version__, ownership
from .catalog import Hydrophone
from .clips import ClipSettings, DayPlan, Skip, window_start
from .fileclips import FileResult, FileStatus
from .naming import day_manifest_key, day_prefix
from .overview import body_digest, overview_png, redraw, stamped_digest
from .publish import ALL, PUBLISHED
from .recurring import discount as _discount
from .render import RenderSettings
from .score import SCORE_VERSION, Peaks
from .sinks import Sink

SCHEMA = 1
OVERVIEW_NAME = "overview.png"


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def settings_record(clip_settings: ClipSettings, render_settings: RenderSettings) -> dict[str, Any]:
    return {"clips": asdict(clip_settings), "render": asdict(render_settings), "score_version": SCORE_VERSION}


def build(
    *,
    hydrophone: Hydrophone,
    day: dt.date,
    source: str,
    folder: str | None,
    plan: DayPlan,
    results: list[FileResult],
    clip_settings: ClipSettings,
    render_settings: RenderSettings,
    timings: dict[str, float],
    reasons: Mapping[int, str] | None = None,
    budget: str = ALL,
    store: str = "published",
    earlier_budgets: Sequence[str] = (),
) -> dict[str, Any]:
    """`reasons`: why each window is or is not published (`rerun.choose_day`); None: every clip, `all`.
    `earlier_budgets`: the budgets that published the day's clips before (`budgets`), kept in the record
    with this one when it publishes any."""
    results = sorted(results, key=lambda r: r.first_window)
    read = [r for r in results if r.repair is None]
    repairs = [r for r in results if r.repair is not None]
    by_name = {r.name: r for r in read}
    if reasons is None:
        reasons = {k: ALL for r in results for _, k, _ in r.clips}
    clips = [
        {"id": sid, "start": _iso(window_start(day, k, clip_settings)), "coverage": cov, "file": r.name,
         "published": reasons.get(k) in PUBLISHED}
        for k, sid, cov, r in sorted((k, sid, cov, r) for r in results for sid, k, cov in r.clips)
    ]
    windows: list[tuple[int, str, float, str | None]] = [
        (k, reason, cov, r.name) for r in results for k, reason, cov in r.skipped]
    recorded = {w[0] for w in windows} | {k for r in results for _, k, _ in r.clips}
    windows += [(k, Skip.GAP, 0.0, None) for k in plan.unowned if k not in recorded]  # a repair may serve them
    skipped = _merge(sorted(windows, key=lambda w: w[0]), day, clip_settings)
    accounting = ownership.account(results, day, clip_settings)
    listed = {f.name for f in plan.files}
    files = [_file_entry(r, accounting) for r in read if r.name not in listed]  # previous day's spill-over file
    for f in plan.files:
        r = by_name.get(f.name)
        entry = _file_entry(r, accounting) if r else {
            "name": f.name, "url": f.url, "size": f.size, "status": FileStatus.FAILED,
            "error": f"{f.name}: listed, but not read"}
        entry["size_exact"] = f.size_exact
        files.append(entry)
    for e in files:
        if e["name"] in accounting.unaccounted and e["status"] == FileStatus.OK:
            e["status"] = FileStatus.FAILED
            e["error"] = (f"{e['name']}: {accounting.unaccounted[e['name']]:.3f} s of its data are in no clip and no "
                          "skipped window (a fault of the pipeline: please report it)")
    n_skipped = sum(s["windows"] for s in skipped)
    failed = [e["name"] for e in files if e["status"] != FileStatus.OK]
    failed += [f"repair {r.key}" for r in repairs if r.status != FileStatus.OK]
    day_seconds = clip_settings.windows_per_day * clip_settings.clip_seconds
    checks = {
        "day_covered": (len(clips) + n_skipped) * clip_settings.clip_seconds == day_seconds,
        "data_accounted": not accounting.unaccounted,
    }
    totals = {
        "files_listed": len(plan.files),
        "files_failed": len(failed),
        "clips": len(clips),
        "published": sum(r in PUBLISHED for r in reasons.values()),
        "clips_written": sum(r.written for r in results),
        "clips_present": sum(r.present for r in results),
        "skipped_windows": n_skipped,
        "skipped_by_reason": _count_by_reason(skipped),
        "clip_seconds": len(clips) * clip_settings.clip_seconds,
        "skipped_seconds": n_skipped * clip_settings.clip_seconds,
        "day_seconds": day_seconds,
        "data_seconds": accounting.data_seconds,
        "unaccounted_data_seconds": round(sum(accounting.unaccounted.values()), 6),
        "repairs": len(repairs),
        "png_bytes": sum(r.png_bytes for r in results),
        "wav_bytes": sum(r.wav_bytes for r in results),
        "peak_worker_rss_mib": max((r.peak_rss_mib for r in results), default=0.0),
    }
    return {
        "schema": SCHEMA,
        "software": {"name": "whaledr-pipeline", "version": __version__},
        "hydrophone": {
            "refdes": hydrophone.refdes,
            "node": hydrophone.node,
            "name": hydrophone.name,
            "latitude": hydrophone.latitude,
            "longitude": hydrophone.longitude,
        },
        "date": day.isoformat(),
        "source": source,
        "folder": folder,
        "complete": bool(plan.files) and not failed and all(checks.values()),
        "failed_files": failed,
        "checks": checks,
        "settings": settings_record(clip_settings, render_settings),
        "totals": totals,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "files": files,
        "repairs": [_repair_entry(r) for r in repairs],
        "clips": clips,
        "skipped": skipped,
        "served": accounting.served,
        "scores": {str(k): v for r in results for k, v in sorted(r.scores.items())},
        "peaks": {str(k): peaks_record(p) for r in results for k, p in sorted(r.peaks.items())},
        "recurring": {str(k): names for k, names in _discount(
            {k: v for r in results for k, v in r.scores.items()}, {k: p for r in results for k, p in r.peaks.items()}
        )[1].items()},
        "publish": {"budget": budget, "store": store,
                    "budgets": _with(list(earlier_budgets), budget) if totals["published"] else list(earlier_budgets)},
        "published": {str(k): v for k, v in sorted(reasons.items())},
    }


def budgets(m: dict[str, Any] | None) -> list[str]:
    """Every budget that published clips of the day, in the order first used (a record made before the
    list names its one budget; one made before budgets, `all`)."""
    if not m:
        return []
    publish = m.get("publish", {})
    published = m.get("totals", {}).get("published", len(m.get("clips", [])))
    return list(publish.get("budgets", [publish.get("budget", ALL)] if published else []))


def _with(items: list[str], item: str) -> list[str]:
    return items if item in items else [*items, item]


def _file_entry(r: FileResult, accounting: ownership.Accounting) -> dict[str, Any]:
    entry = {k: v for k, v in asdict(r).items()
             if k not in ("clips", "skipped", "scores", "peaks", "columns", "key", "also", "repair", "objects")}
    entry["clips"], entry["skipped_windows"] = len(r.clips), len(r.skipped)
    entry["seconds"] = {k: round(v, 4) for k, v in r.seconds.items()}
    entry["spans"] = [list(s) for s in r.spans]
    entry.update(accounting.files.get(r.name, {}))
    return entry


def _repair_entry(r: FileResult) -> dict[str, Any]:
    """A repair unit's record: its files, its windows, what it made and why it ran."""
    return {"files": [r.name, *r.also], "first_window": r.first_window, "end_window": r.end_window,
            "why": r.repair, "status": r.status, "error": r.error, "clips": len(r.clips),
            "skipped_windows": len(r.skipped), "clips_written": r.written, "clips_present": r.present,
            "notes": r.notes, "seconds": {k: round(v, 4) for k, v in r.seconds.items()}}


def _merge(windows: list[tuple[int, str, float, str | None]], day: dt.date,
           clip_settings: ClipSettings) -> list[dict[str, Any]]:
    """Consecutive skipped windows with the same reason and file become one range."""
    out: list[dict[str, Any]] = []
    last: tuple[int, str, str | None] | None = None
    for k, reason, cov, name in windows:
        if out and last == (k - 1, reason, name):
            out[-1]["windows"] += 1
            out[-1]["end"] = _iso(window_start(day, k + 1, clip_settings))
            out[-1]["data_seconds"] = round(out[-1]["data_seconds"] + cov * clip_settings.clip_seconds, 6)
        else:
            out.append({
                "start": _iso(window_start(day, k, clip_settings)),
                "end": _iso(window_start(day, k + 1, clip_settings)),
                "windows": 1,
                "reason": reason,
                "file": name,
                "data_seconds": round(cov * clip_settings.clip_seconds, 6),
            })
        last = (k, reason, name)
    return out


def _count_by_reason(skipped: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s["reason"]] = counts.get(s["reason"], 0) + s["windows"]
    return counts


def dumps(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=1).encode()


def loads(data: bytes | None) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        m = json.loads(data)
    except ValueError:
        return None  # a damaged record only costs a rerun its shortcut
    return m if isinstance(m, dict) and m.get("schema") == SCHEMA else None


def read(sink: Sink, node: str, day: dt.date) -> dict[str, Any] | None:
    """The day manifest a run left in `sink`, or None when there is none (or it is damaged)."""
    return loads(sink.get(day_manifest_key(sink.prefix, node, day)))


def peaks_record(p: Peaks) -> dict[str, Any]:
    """A window's `score.Peaks` as the day manifest keeps them: {"rest": value, "found": {detector: [value, s]}}."""
    return {"rest": p.rest, "found": {name: list(v) for name, v in p.found.items()}}


def peaks(m: dict[str, Any]) -> dict[int, Peaks]:
    """Window -> `score.Peaks` of a day manifest (none in one made before SCORE_VERSION 4)."""
    return {int(k): Peaks({name: (float(v[0]), float(v[1])) for name, v in p["found"].items()}, float(p["rest"]))
            for k, p in m.get("peaks", {}).items()}


def scores(m: dict[str, Any]) -> dict[int, float]:
    """Window -> call score of every window with data in a day manifest (none in one made before scores)."""
    return {int(k): float(v) for k, v in m.get("scores", {}).items()}


def reusable(
    previous: dict[str, Any] | None,
    plan: DayPlan,
    clip_settings: ClipSettings,
    render_settings: RenderSettings,
    stored: Set[str],
) -> dict[str, FileResult]:
    """Results of the previous run that still hold: same settings, file finished, every clip stored.

    Such files need neither a download nor a decode on a rerun.
    """
    settings = json.loads(json.dumps(settings_record(clip_settings, render_settings)))
    if not previous or previous.get("settings") != settings:
        return {}
    clips_by_file: dict[str, list[tuple[str, int, float]]] = {}
    start = dt.datetime.fromisoformat(previous["date"]).replace(tzinfo=dt.UTC)
    for c in previous.get("clips", []):
        t = dt.datetime.fromisoformat(c["start"].replace("Z", "+00:00"))
        k = int((t - start).total_seconds()) // clip_settings.clip_seconds
        clips_by_file.setdefault(c["file"], []).append((c["id"], k, c["coverage"]))
    skipped_by_file: dict[str, list[tuple[int, str, float]]] = {}
    for s in previous.get("skipped", []):
        if s["file"] is None:
            continue
        t = dt.datetime.fromisoformat(s["start"].replace("Z", "+00:00"))
        k0 = int((t - start).total_seconds()) // clip_settings.clip_seconds
        per = s["data_seconds"] / s["windows"] / clip_settings.clip_seconds
        skipped_by_file.setdefault(s["file"], []).extend((k0 + i, s["reason"], per) for i in range(s["windows"]))
    entries = {f["name"]: f for f in previous.get("files", [])}
    known = scores(previous)
    found = peaks(previous)
    out: dict[str, FileResult] = {}
    for unit in plan.units:
        e = entries.get(unit.file.name)
        if not e or e.get("status") != FileStatus.OK or e.get("next_missing") or "spans" not in e \
                or (e.get("first_window"), e.get("end_window")) != (unit.first_window, unit.end_window):
            continue  # a record from before spans were kept cannot be arbitrated: the file is read again
        clips = clips_by_file.get(unit.file.name, [])
        skipped = skipped_by_file.get(unit.file.name, [])
        if len(clips) + len(skipped) != len(unit.windows):
            continue
        if not all(sid in stored for sid, _, _ in clips):
            continue
        if not all(k in known for _, k, _ in clips):  # made before scores were: the file is read again
            continue
        out[unit.file.name] = FileResult(
            unit.file.name, unit.file.url, unit.file.size, unit.first_window, unit.end_window,
            clips=clips, skipped=skipped, present=len(clips), traces=e.get("traces", 0),
            duplicates=e.get("duplicates", 0), notes=e.get("notes", []), reused=True,
            scores={k: known[k] for k in unit.windows if k in known},
            peaks={k: found[k] for k in unit.windows if k in found},
            spans=[(int(a), int(b)) for a, b in e["spans"]],
        )
    return out


def summary_line(m: dict[str, Any], seconds: float | None = None) -> str:
    """The day in one line: what the run's state message, the terminal and an alert say."""
    t = m["totals"]
    reasons = ", ".join(f"{v} {k}" for k, v in sorted(t["skipped_by_reason"].items())) or "none"
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    state = "complete" if m["complete"] else f"INCOMPLETE ({t['files_failed']} files failed)"
    published = f"{t['published']} published ({m.get('publish', {}).get('budget', ALL)}), " if "published" in t else ""
    return (
        f"{m['hydrophone']['node']} {m['date']}: {t['files_listed']} files, {t['clips_written']} clips written, "
        f"{t['clips_present']} already present, {published}{t['skipped_windows']} windows skipped ({reasons})"
        f"{took}; {state}"
    )


def overview_key(prefix: str, node: str, day: dt.date) -> str:
    """The day overview lies beside the day manifest."""
    return day_prefix(prefix, node, day) + OVERVIEW_NAME


def published_windows(m: dict[str, Any]) -> set[int]:
    """Windows a day manifest publishes (every clip, in one made before budgets existed)."""
    if "published" in m:
        return {int(k) for k, r in m["published"].items() if r in PUBLISHED}
    start = dt.datetime.fromisoformat(m["date"]).replace(tzinfo=dt.UTC)
    seconds = m["settings"]["clips"]["clip_seconds"]
    return {int((dt.datetime.fromisoformat(c["start"].replace("Z", "+00:00")) - start).total_seconds()) // seconds
            for c in m.get("clips", [])}


def overview(m: dict[str, Any], columns: Mapping[int, Any], partial: bool = False,
             stored: bytes | None = None) -> bytes | None:
    """The day overview PNG of a day manifest and the windows' columns (`overview.window_column`).

    Drawn whole when every window with data has its column (or with `partial`, from the columns there
    are: `whaledr overview`, where a file that cannot be read again stays blank). A run that read only
    some files has the columns of those: then the `stored` picture's body is kept and its score strip,
    ticks and title drawn again, when that body was drawn from the very windows the manifest has data
    for (a larger budget over a finished day; a lost clip made again). Else None: the caller reads the
    other files' columns again, so that the picture never shows data as gaps, nor old ticks.
    """
    known = scores(m)
    render, clips = m["settings"]["render"], m["settings"]["clips"]
    settings = {"clips": clips, "render": render}
    drawing = dict(windows_per_day=m["totals"]["day_seconds"] // clips["clip_seconds"], fmin=render["fmin"],
                   fmax=render["fmax"], title=f"{m['hydrophone']['node']} {m['date']}: {m['totals']['published']} "
                   f"published ({m.get('publish', {}).get('budget', ALL)})")
    if columns and (partial or not set(known) - set(columns)):
        columns = {k: np.asarray(c, np.float32) for k, c in columns.items()}  # kept as float16; powers overflow it
        digest = body_digest(set(known) & set(columns), settings)  # a partial body is never taken for a whole one
        return overview_png(columns, known, published_windows(m), digest=digest, **drawing)
    if stored is not None and stamped_digest(stored) == body_digest(known, settings):
        return redraw(stored, known, published_windows(m), **drawing)
    return None
