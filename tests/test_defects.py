"""OOI's documented file defects, each its own fixture (tests/ooi_defects.py says which public
record each follows): every day gives exactly the clips its data holds, each clip's counts are what
was recorded at its time, and every second of data is in a clip or a skipped window with a reason.

These run the core as the day flow does (plan, every file read, `ownership.arbitrate`, the repairs,
the day manifest), without Prefect; tests/test_faults.py runs a defect day end to end over HTTP.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from whaledr_core import daymanifest
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, DayPlan, day_index, plan_day
from whaledr_core.fileclips import FileResult, process_file
from whaledr_core.naming import clip_key
from whaledr_core.ownership import Arbitration, arbitrate
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import LocalSink

from ooi_defects import (
    DAY,
    PACKET,
    RATE,
    Recording,
    at,
    companion,
    name,
    raw,
    recorded_file,
    stub,
    traces,
    wav_counts,
    window_of,
    write,
)

CS = ClipSettings(file_seconds=30)  # 30-second files keep it fast; the rules are a 5-minute file's
RS = RenderSettings(axes=False, width=64, height=48, nfft=1024, wav="int32-raw")  # WAVs hold the counts
H = get_hydrophone("LJ01A")
W = CS.window


@dataclass
class Day:
    plan: DayPlan
    arbitration: Arbitration
    results: list[FileResult]
    m: dict
    sink: LocalSink


def run_day(paths: list[Path], out: Path, *, sized: bool = True, repair: bool = True) -> Day:
    """The day as the flow makes it: the plan's units (every file), then the repairs their data asks for."""
    plan = plan_day(DAY, [raw(p, sized) for p in paths], CS)
    sink = LocalSink(out)
    first = [process_file(u, u.file.url, (lambda u=u: u.next_file.url) if u.next_file else None, DAY, H.node, sink,
                          CS, RS) for u in plan.units]
    arbitration = arbitrate(plan, first, CS) if repair else Arbitration([], {})
    repaired = [process_file(u, u.file.url, None, DAY, H.node, sink, CS, RS, also_paths=[f.url for f in u.also])
                for u in arbitration.repairs]
    results = arbitration.apply(first, repaired)
    m = daymanifest.build(hydrophone=H, day=DAY, source=str(out), folder=None, plan=plan, results=results,
                          clip_settings=CS, render_settings=RS, timings={})
    return Day(plan, arbitration, results, m, sink)


def served(m: dict) -> dict[str, list[int]]:
    """Windows of the day's clips, by the file whose data they hold."""
    out: dict[str, list[int]] = {}
    for c in m["clips"]:
        out.setdefault(c["file"], []).append(window_of(c["start"]))
    return out


def windows(first: str, n: int) -> list[int]:
    """The n windows from `HH:MM:SS` on."""
    k = window_of(at(first).isoformat())
    return list(range(k, k + n))


def entry(m: dict, path: Path) -> dict:
    return next(f for f in m["files"] if f["name"] == path.name)


def assert_clips_hold_the_recording(d: Day, rec: Recording) -> None:
    """Each clip's WAV holds, sample for sample, what was recorded at its time (a sample or two the
    files lack, within the clip tolerance, are filled with the mean and not compared)."""
    for c in d.m["clips"]:
        k = window_of(c["start"])
        counts = wav_counts(d.sink.get(clip_key("", c["id"], "wav")))
        expected, mask = rec.window(k)
        assert mask.sum() >= W - CS.tolerance_samples, c
        np.testing.assert_array_equal(counts[mask], expected[mask], err_msg=c["id"])


def assert_every_second_accounted(m: dict) -> None:
    """The day's invariant: the whole day in clips and skipped windows, and every second of data in
    every file in a clip or a skipped window with a reason."""
    t = m["totals"]
    assert t["clip_seconds"] + t["skipped_seconds"] == t["day_seconds"] == 86_400
    assert m["checks"] == {"day_covered": True, "data_accounted": True}, m["checks"]
    assert t["unaccounted_data_seconds"] == 0
    assert m["complete"] and m["failed_files"] == []


def three_files(folder: Path, rec: Recording) -> list[Path]:
    """Three real 30-second files back to back from 17:25:00, as on any day."""
    return [recorded_file(folder, rec, at(t), 30) for t in ("17:25:00", "17:25:30", "17:26:00")]


# --- stubs and companions (ooi-hyd-tools README "Known issues") ------------------------------------


@pytest.mark.parametrize("sized", [True, False], ids=["sizes listed", "names only"])
@pytest.mark.parametrize("offset_us", [-400, 0, 400], ids=["before", "at", "after"])
def test_a_64_sample_stub_near_a_real_files_start_takes_nothing_and_loses_nothing(offset_us, sized, tmp_path):
    """A 64-sample stub named 0.4 ms before, at or 0.4 ms after a real file's start: the real file
    serves its 6 windows, the stub's samples lie in them, and no window is a gap or short. With the
    listing's sizes the plan gives the stub nothing; by names alone, a stub named after the real file
    takes its windows at first and one repair serves them from the real file's data."""
    folder, rec = tmp_path / "day", Recording()
    p, r, n = three_files(folder, rec)
    if offset_us == 0:  # the same start in the other name form (OOI renames older data to the `Z` form)
        r.rename(r.with_name(name(at("17:25:30"), zulu=False)))
        r = r.with_name(name(at("17:25:30"), zulu=False))
    s = stub(folder, at("17:25:30", offset_us))
    d = run_day([p, r, n, s], tmp_path / "out", sized=sized)
    assert served(d.m) == {p.name: windows("17:25:00", 6), r.name: windows("17:25:30", 6),
                           n.name: windows("17:26:00", 6)}
    assert d.m["totals"]["skipped_by_reason"] == {"gap": 17_280 - 18}
    assert d.m["totals"]["repairs"] == (0 if sized or offset_us < 0 else 1)
    e = entry(d.m, s)
    assert e["status"] == "ok" and e["windows_served"] == 0 and e["data_seconds"] == 0.001
    holders = f"{p.name}, {r.name}" if offset_us < 0 else r.name
    assert e["use"] == f"its 0.001 s of data lie in windows served by {holders}, which hold them too"
    assert entry(d.m, r)["use"] == "serves 6 windows"
    assert_clips_hold_the_recording(d, rec)
    assert_every_second_accounted(d.m)


@pytest.mark.parametrize("sized", [True, False], ids=["sizes listed", "names only"])
def test_a_companion_16_us_after_a_real_file_with_a_3_s_duplicate_hides_nothing(sized, tmp_path):
    """The 2016-07-20 companion: named 16 us after a real file, holding a 3 s duplicate of its
    start. By its name it would take all the real file's windows and leave 1 short and 5 gaps (on a
    5-minute file, 1 short and 59 gaps: the issue's lost 10 minutes). The real file serves them all;
    its first window holds the companion's data too, as the longer copy."""
    folder, rec = tmp_path / "day", Recording()
    p, r, n = three_files(folder, rec)
    c = companion(folder, at("17:25:30"))
    d = run_day([p, r, n, c], tmp_path / "out", sized=sized)
    assert served(d.m) == {p.name: windows("17:25:00", 6), r.name: windows("17:25:30", 6),
                           n.name: windows("17:26:00", 6)}
    assert d.m["totals"]["repairs"] == (0 if sized else 1)
    if not sized:
        (unit,) = d.arbitration.repairs
        assert (unit.file.name, [f.name for f in unit.also], len(unit.windows)) == (r.name, [c.name], 6)
    assert entry(d.m, c)["use"] == f"its 3.000 s of data lie in windows served by {r.name}, which hold them too"
    ranges = [(x["start"][11:19], x["windows"], x["file"], x["with"], x["reason"]) for x in d.m["served"]]
    assert ranges == [("17:25:00", 6, p.name, [], "only data"), ("17:25:30", 1, r.name, [c.name], "longer copy"),
                      ("17:25:35", 5, r.name, [], "only data"), ("17:26:00", 6, n.name, [], "only data")]
    assert_clips_hold_the_recording(d, rec)
    assert_every_second_accounted(d.m)


def test_a_day_left_as_names_planned_it_names_the_file_whose_data_no_window_holds(tmp_path):
    """The invariant is the day manifest's own check: without the repair (as before this rule), the
    companion's name takes the real file's windows, the real file's 30 s are in no clip, and the day
    is not complete: the real file is a failed file, named in the manifest and the summary."""
    folder, rec = tmp_path / "day", Recording()
    p, r, n = three_files(folder, rec)
    c = companion(folder, at("17:25:30"))
    d = run_day([p, r, n, c], tmp_path / "out", sized=False, repair=False)
    assert c.name not in served(d.m)  # its 3 s: one short window; then 5 gaps
    assert d.m["checks"] == {"day_covered": True, "data_accounted": False}
    assert not d.m["complete"] and d.m["failed_files"] == [r.name]
    assert d.m["totals"]["unaccounted_data_seconds"] == 30.0
    assert "no clip and no skipped window" in entry(d.m, r)["error"]
    assert "INCOMPLETE (1 files failed)" in daymanifest.summary_line(d.m)


# --- packets: duplicated, sharing one start, short files (2023-06-15) ---------------------------


def test_duplicated_packets_are_dropped_and_the_rest_keeps_its_time(tmp_path):
    """HYDBBA105/302 2023-06-15 17:25-17:35 held duplicated packets: 1,200 packets of 2,560 samples
    (48 s), 20 sent twice (10 at once, 10 a hundred packets later), every trace carrying the first
    packet's start (the June 2023 driver). The 20 are dropped and the 48 s placed by the count."""
    folder, rec = tmp_path / "day", Recording()
    start = at("17:25:00")
    data = rec.add(day_index(start, DAY, RATE), 1_200 * PACKET)
    trs = traces(data, start, shared=True)
    for i in range(10):
        trs.insert(2 * i + 1, trs[2 * i].copy())  # sent again at once
    for i in range(10):
        trs.insert(400 + i * 3, trs[200 + i].copy())  # sent again later
    f = write(folder / name(start), trs)
    d = run_day([f], tmp_path / "out")
    e = entry(d.m, f)
    assert (e["traces"], e["duplicates"]) == (1_220, 20)
    assert served(d.m) == {f.name: windows("17:25:00", 9)}  # 45 s of clips; 45-48 s is short
    assert d.m["totals"]["skipped_by_reason"] == {"gap": 17_280 - 10, "short": 1}
    assert e["spans"] == [[day_index(start, DAY, RATE), day_index(start, DAY, RATE) + 1_200 * PACKET]]
    assert_clips_hold_the_recording(d, rec)
    assert_every_second_accounted(d.m)


def test_short_files_whole_or_sharing_a_start_give_what_they_hold(tmp_path):
    """Files that hold less than their slot (a recording cut by a navy diversion): 17.3 s of per-packet
    data, then 12.9 s of traces sharing one start (HYDBBA102 2023-06-15), each followed by a whole
    file on time. Each gives the clips its data covers, a short window for the rest of a window, and
    gaps after; the next file starts on time."""
    folder, rec = tmp_path / "day", Recording()
    a = recorded_file(folder, rec, at("17:25:00"), 17.3)
    b = recorded_file(folder, rec, at("17:25:30"), 30)
    c = recorded_file(folder, rec, at("17:26:00"), 12.9, shared=True)
    d_ = recorded_file(folder, rec, at("17:26:30"), 30, shared=True)
    d = run_day([a, b, c, d_], tmp_path / "out")
    assert served(d.m) == {a.name: windows("17:25:00", 3), b.name: windows("17:25:30", 6),
                           c.name: windows("17:26:00", 2), d_.name: windows("17:26:30", 6)}
    short = {s["start"][11:19]: round(s["data_seconds"], 3) for s in d.m["skipped"] if s["reason"] == "short"}
    assert short == {"17:25:15": 2.3, "17:26:10": 2.9}
    assert "holds 17.300 s of data in the 30.000 s before the next file starts" in " ".join(entry(d.m, a)["notes"])
    assert_clips_hold_the_recording(d, rec)
    assert_every_second_accounted(d.m)


def test_a_window_across_two_files_is_merged_and_its_wav_names_both(tmp_path):
    """A recording that resumes mid-window is named from its true start (docs/data-access.md): the
    window holds the end of one file and the start of the next. The clip holds both; the manifest
    says `merged`; the WAV's own metadata (RIFF INFO, read here by soundfile) gives the exact UTC
    start of its first sample, the reference designator, both files and the software."""
    import soundfile as sf

    folder, rec = tmp_path / "day", Recording()
    a = recorded_file(folder, rec, at("17:25:00"), 32.5)
    b = recorded_file(folder, rec, at("17:25:32", 500_000), 30)
    d = run_day([a, b], tmp_path / "out")
    across = next(x for x in d.m["served"] if x["reason"] == "merged")
    assert (across["start"][11:19], across["windows"], across["file"], across["with"]) == (
        "17:25:30", 1, a.name, [b.name])
    clip = next(c for c in d.m["clips"] if c["start"] == "2023-06-15T17:25:30Z")
    with sf.SoundFile(io.BytesIO(d.sink.get(clip_key("", clip["id"], "wav")))) as wav:
        assert (wav.title, wav.date, wav.artist) == (clip["id"], "2023-06-15T17:25:30.000000Z", H.refdes)
        assert wav.software.startswith("whaledr-pipeline ")
        assert f"source={a.name},{b.name}" in wav.comment and "start=2023-06-15T17:25:30.000000Z" in wav.comment
        assert wav.frames == W
    assert_clips_hold_the_recording(d, rec)
    assert_every_second_accounted(d.m)


# --- 256 kHz one-minute files whose labels step exactly one packet (June 2025) ---------------------

TONES = ((440.0, 60_000.0, 0.0), (1_730.0, 40_000.0, 1.0), (3_110.0, 25_000.0, 2.0))
"""Hz, counts, phase: what the hydrophone recorded, far below the clips' Nyquist, so that resampling
keeps it and a sample out of place by 1/64,000 s shows (at 3,110 Hz, 30 % of that tone)."""


def tones(t: np.ndarray) -> np.ndarray:
    return sum(a * np.sin(2 * np.pi * f * t + ph) for f, a, ph in TONES)


def test_256_khz_holes_of_1_ms_to_1_5_s_are_holes_and_no_later_sample_moves(tmp_path):
    """A 256 kHz file (LJ01D, 24-28 June 2025) in packets of 2,560 samples whose labels step exactly
    one packet, with holes of 1, 5, 40, 200 ms and 1.5 s. OOI's rule: the count says something is
    missing, the labels say where; these labels do not jitter, so each hole is found to the sample.
    The 1 ms hole is within the 1 ms clip tolerance (a clip, the 64 missing samples filled with the
    mean); every window with a longer hole is short, never spliced shut; the clips after the holes
    hold what was recorded at their time (each run resampled on its own)."""
    fast = 256_000
    start = at("17:25:00")
    holes = [(2.5, 0.001), (7.3, 0.005), (11.0, 0.040), (16.2, 0.200), (24.0, 1.5)]  # at s, lasting s
    t = np.arange(40 * fast) / fast
    keep = np.ones(len(t), bool)
    for h, length in holes:
        keep[int(h * fast) : int(h * fast) + int(round(length * fast))] = False
    from obspy import Trace, UTCDateTime

    trs, i = [], 0
    while i < len(t):  # packets never span a hole; each labelled with its first sample's time
        if not keep[i]:
            i += 1
            continue
        j = i
        while j < min(i + PACKET, len(t)) and keep[j]:
            j += 1
        data = np.round(tones(t[i:j])).astype(np.int32)
        trs.append(Trace(data=data, header={"network": "OO", "station": "HYVM1", "location": "", "channel": "YDH",
                                            "sampling_rate": fast, "starttime": UTCDateTime(start) + i / fast}))
        i = j
    f = write(tmp_path / "day" / name(start), trs)
    d = run_day([f], tmp_path / "out")
    assert served(d.m) == {f.name: [windows("17:25:00", 8)[k] for k in (0, 6, 7)]}
    short = [(s["start"][11:19], s["windows"], s["data_seconds"]) for s in d.m["skipped"] if s["reason"] == "short"]
    assert short == [("17:25:05", 5, 4.995 + 4.96 + 4.8 + 4.0 + 4.5)]  # each window less its hole
    e = entry(d.m, f)
    t0 = day_index(start, DAY, RATE)
    assert [(a - t0, b - t0) for a, b in e["spans"]] == [
        (0, 160_000), (160_064, 467_200), (467_520, 704_000), (706_560, 1_036_800), (1_049_600, 1_536_000),
        (1_632_000, 2_560_000)]
    assert "5 gaps and 0 overlaps" in " ".join(e["notes"])
    edge = 24  # output samples next to a run's end, where the resampling filter sees the hole
    for c in d.m["clips"]:
        k = window_of(c["start"])
        counts = wav_counts(d.sink.get(clip_key("", c["id"], "wav"))).astype(float)
        idx = np.arange(k * W, (k + 1) * W)
        far = np.zeros(W, bool)
        for a, b in e["spans"]:
            far |= (idx >= a + edge) & (idx < b - edge)
        expected = tones((idx - day_index(start, DAY, RATE)) / RATE)
        assert np.max(np.abs(counts[far] - expected[far])) < 0.01 * sum(a for _, a, _ in TONES), c["id"]
    assert_every_second_accounted(d.m)


def test_labels_that_jitter_by_5_ms_still_locate_a_40_ms_hole(tmp_path):
    """The tolerance is the file's own: labels jittering by up to 5 ms (10 ms between neighbours)
    cannot hide a 40 ms hole, where a fixed 0.5 s tolerance closed it; the run after it is placed
    within the labels' jitter of its true time."""
    from obspy import Trace, UTCDateTime

    start, rng = at("17:25:00"), np.random.default_rng(4)
    first = day_index(start, DAY, RATE)
    data = np.arange(30 * RATE, dtype=np.int32)
    hole = (10 * RATE, 10 * RATE + 2_560)  # 40 ms
    trs = []
    for i in range(0, len(data), PACKET):
        if hole[0] <= i < hole[1]:
            continue
        label = UTCDateTime(start) + i / RATE + (rng.uniform(-0.005, 0.005) if i else 0)
        trs.append(Trace(data=data[i:i + PACKET], header={"network": "OO", "station": "HYVM1", "location": "",
                                                             "channel": "YDH", "sampling_rate": RATE,
                                                             "starttime": label}))
    f = write(tmp_path / "day" / name(start), trs)
    d = run_day([f], tmp_path / "out")
    (a0, a1), (b0, b1) = entry(d.m, f)["spans"]
    assert (a0 - first, a1 - first) == (0, hole[0])
    assert abs(b0 - first - hole[1]) <= 0.005 * RATE and b1 - b0 == 30 * RATE - hole[1]
    assert served(d.m) == {f.name: [w for i, w in enumerate(windows("17:25:00", 6)) if i != 2]}
    assert_every_second_accounted(d.m)
