"""Clips on the UTC grid from synthetic files of known content: counts, times, gaps, fragments, straddles."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from whaledr_core import clips, daymanifest, listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, plan_day
from whaledr_core.fileclips import process_file
from whaledr_core.naming import clip_key
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import LocalSink

from conftest import DAY, RATE, mseed_name, write_mseed

CS = ClipSettings(file_seconds=20)  # short files keep the tests fast; the rules are the same
RS = RenderSettings(axes=False)
T0 = dt.datetime(2019, 1, 12, 3, 0, 0, 15, tzinfo=dt.UTC)
H = get_hydrophone("LJ01D")


def ramp(n: int, offset: int = 0) -> np.ndarray:
    """Distinct, known samples: value = day-index-like counter, so any misplacement shows."""
    return (np.arange(offset, offset + n) % 2_000_000 - 1_000_000).astype(np.int32)


def raw(path) -> listing.RawFile:
    codes, start = listing.parse_name(path.name)
    return listing.RawFile(str(path), path.name, start, path.stat().st_size, True, codes)


def run_files(paths, tmp_path, clip_settings=CS, render_settings=RS):
    files = [raw(p) for p in paths]
    plan = plan_day(DAY, files, clip_settings)
    sink = LocalSink(tmp_path / "out")
    results = [
        process_file(u, u.file.url, (lambda u=u: u.next_file.url) if u.next_file else None, DAY, H.node, sink,
                     clip_settings, render_settings)
        for u in plan.units
    ]
    m = daymanifest.build(hydrophone=H, day=DAY, source=str(tmp_path), folder=None, plan=plan, results=results,
                       clip_settings=clip_settings, render_settings=render_settings, timings={})
    return plan, results, m, sink


def test_clip_count_exact_start_times_and_keys(tmp_path):
    p = write_mseed(tmp_path / mseed_name(T0), T0, ramp(20 * RATE))
    plan, results, m, sink = run_files([p], tmp_path)
    starts = [c["start"] for c in m["clips"]]
    assert starts == ["2019-01-12T03:00:00Z", "2019-01-12T03:00:05Z", "2019-01-12T03:00:10Z", "2019-01-12T03:00:15Z"]
    ids = [c["id"] for c in m["clips"]]
    assert ids[0] == "LJ01D___2019_01_12___OO_HYEA2__YDH_2019_01_12T03_00_00"
    for sid in ids:
        assert sink.get(clip_key("", sid, "jpg")).startswith(b"\xff\xd8\xff")  # JPEG under .jpg by default
        assert sink.get(clip_key("", sid, "wav")).startswith(b"RIFF")
    # every window of the day is a clip or a skip; before 03:00 and after 03:00:20 there is no data
    t = m["totals"]
    assert t["clips"] * 5 + t["skipped_seconds"] == t["day_seconds"] == 86_400
    assert t["skipped_by_reason"] == {"gap": 17_280 - 4}
    assert m["skipped"][0] == {"start": "2019-01-12T00:00:00Z", "end": "2019-01-12T03:00:00Z",
                               "windows": 2160, "reason": "gap", "file": None, "data_seconds": 0.0}


def test_clip_samples_are_the_source_samples(tmp_path):
    data = ramp(20 * RATE)
    p = write_mseed(tmp_path / mseed_name(T0), T0, data)
    fd = clips.read_file(str(p), DAY, CS)
    plan = plan_day(DAY, [raw(p)], CS)
    windows = [w for w in clips.cut(plan.units[-1], fd, CS) if w.reason is None]
    assert len(windows) == 4
    # the file starts 15 us (one sample, rounded) after 03:00:00: the first window misses one sample
    assert windows[0].coverage == pytest.approx(1 - 1 / (5 * RATE))
    np.testing.assert_array_equal(windows[1].samples, data[5 * RATE - 1 : 10 * RATE - 1])


def test_gap_between_files_is_accounted(tmp_path):
    a = write_mseed(tmp_path / mseed_name(T0), T0, ramp(20 * RATE))
    t1 = T0 + dt.timedelta(seconds=32)  # 12 s of nothing, then a file starting mid-window
    b = write_mseed(tmp_path / mseed_name(t1), t1, ramp(20 * RATE, 7))
    plan, results, m, _ = run_files([a, b], tmp_path)
    got = {c["start"][11:19] for c in m["clips"]}
    assert got == {"03:00:00", "03:00:05", "03:00:10", "03:00:15", "03:00:35", "03:00:40", "03:00:45"}
    skipped = {s["start"][11:19]: s for s in m["skipped"] if s["start"].startswith("2019-01-12T03:00")}
    assert skipped["03:00:20"]["reason"] == "gap" and skipped["03:00:20"]["windows"] == 2
    assert skipped["03:00:30"]["reason"] == "short"
    assert skipped["03:00:30"]["data_seconds"] == pytest.approx(3.0, abs=1e-4)
    assert skipped["03:00:50"]["reason"] == "short"  # b ends at 03:00:52
    assert m["totals"]["clips"] * 5 + m["totals"]["skipped_seconds"] == 86_400
    assert m["complete"]


def test_window_straddling_two_files_is_completed_from_the_next(tmp_path):
    data = ramp(40 * RATE)
    cut = int(12.5 * RATE)
    a = write_mseed(tmp_path / mseed_name(T0), T0, data[:cut])
    t1 = T0 + dt.timedelta(seconds=12.5)
    b = write_mseed(tmp_path / mseed_name(t1), t1, data[cut:])
    plan = plan_day(DAY, [raw(a), raw(b)], CS)
    first = plan.units[0]
    assert first.next_file is not None and first.next_file.name == b.name
    fd = clips.read_file(str(a), DAY, CS)
    nxt = lambda: clips.read_file(str(b), DAY, CS, head_seconds=6, start=first.next_file.start)  # noqa: E731
    windows = {w.k: w for w in clips.cut(first, fd, CS, nxt)}
    k = (3 * 3600 + 10) // 5
    assert windows[k].reason is None
    np.testing.assert_array_equal(windows[k].samples, data[10 * RATE - 1 : 15 * RATE - 1])
    _, results, m, _ = run_files([a, b], tmp_path)
    assert "2019-01-12T03:00:10Z" in {c["start"] for c in m["clips"]}
    assert sum(len(r.clips) for r in results) == 8


def test_fragmented_file_with_jittering_timestamps_equals_the_continuous_one(tmp_path):
    data = ramp(20 * RATE)
    whole = clips.read_file(str(write_mseed(tmp_path / "a" / mseed_name(T0), T0, data)), DAY, CS)
    frag_path = write_mseed(tmp_path / "b" / mseed_name(T0), T0, data, fragments=200, jitter=0.2)
    from obspy import read

    assert len(read(str(frag_path))) == 200
    frag = clips.read_file(str(frag_path), DAY, CS)
    assert frag.traces == 200 and len(frag.segments) == 1
    assert frag.segments[0].start == whole.segments[0].start
    np.testing.assert_array_equal(frag.segments[0].data, whole.segments[0].data)


def test_duplicated_packets_are_dropped(tmp_path):
    from obspy import Stream, Trace, UTCDateTime

    data = ramp(20 * RATE)
    head = {"network": "OO", "station": "HYEA2", "location": "", "channel": "YDH", "sampling_rate": RATE}
    parts = np.split(data, [RATE * 5, RATE * 10])
    traces = []
    for i, part in enumerate(parts):
        traces.append(Trace(part, {**head, "starttime": UTCDateTime(T0) + i * 5}))
    traces.insert(1, traces[0].copy())
    fd = clips.assemble(Stream(traces), DAY, CS)
    assert fd.duplicates == 1 and len(fd.segments) == 1
    np.testing.assert_array_equal(fd.segments[0].data, data)


def test_a_late_label_is_jitter_only_as_far_as_the_files_own_labels_overlap():
    """Labels are trusted as far as the file itself shows: a packet 0.3 s late is a 0.3 s hole in a
    file whose labels never overlap, and jitter in one where a label 0.3 s early shows they stray that
    far; a jump well beyond that is a hole either way, and the samples after it keep their time."""
    from obspy import Stream, Trace, UTCDateTime

    head = {"network": "OO", "station": "HYEA2", "location": "", "channel": "YDH", "sampling_rate": RATE}

    def assembled(labels: list[float]) -> clips.FileData:
        return clips.assemble(Stream([Trace(ramp(RATE, i * RATE), {**head, "starttime": UTCDateTime(T0) + t})
                                      for i, t in enumerate(labels)]), DAY, CS)

    t0 = clips.day_index(T0, DAY, RATE)
    exact = assembled([0, 1, 2.3, 3.3])
    assert [(s.start - t0, len(s.data)) for s in exact.segments] == [(0, 2 * RATE), (int(2.3 * RATE), 2 * RATE)]
    assert "1 gaps and 0 overlaps" in " ".join(exact.notes)
    jittered = assembled([0, 1, 2.3, 3.0, 4, 9, 10])
    assert [(s.start - t0, len(s.data)) for s in jittered.segments] == [(0, 5 * RATE), (9 * RATE, 2 * RATE)]
    np.testing.assert_array_equal(jittered.segments[1].data, ramp(2 * RATE, 5 * RATE))


def test_other_sampling_rate_only_is_a_bad_file(tmp_path):
    from obspy import Stream, Trace, UTCDateTime

    st = Stream([Trace(ramp(2000), {"sampling_rate": 200, "starttime": UTCDateTime(T0)})])
    with pytest.raises(clips.BadFile, match="no 64000 Hz trace"):
        clips.assemble(st, DAY, CS)


def test_random_bytes_named_mseed_is_a_failed_file_with_its_windows_accounted(tmp_path):
    good = write_mseed(tmp_path / mseed_name(T0), T0, ramp(20 * RATE))
    t1 = T0 + dt.timedelta(seconds=20)
    bad = tmp_path / mseed_name(t1)
    bad.write_bytes(np.random.default_rng(1).bytes(50_000))
    plan, results, m, _ = run_files([good, bad], tmp_path)
    assert not m["complete"] and m["failed_files"] == [bad.name]
    assert m["totals"]["skipped_by_reason"]["bad_file"] == plan.units[-1].end_window - plan.units[-1].first_window
    assert m["totals"]["clips"] * 5 + m["totals"]["skipped_seconds"] == 86_400


def test_previous_days_file_that_spills_over_owns_the_first_windows(tmp_path):
    late = dt.datetime(2019, 1, 11, 23, 59, 50, 15, tzinfo=dt.UTC)
    prev = write_mseed(tmp_path / mseed_name(late), late, ramp(20 * RATE))
    t1 = dt.datetime(2019, 1, 12, 0, 0, 10, 15, tzinfo=dt.UTC)
    today = write_mseed(tmp_path / mseed_name(t1), t1, ramp(20 * RATE))
    plan = plan_day(DAY, [raw(today)], CS, previous=raw(prev))
    assert plan.units[0].from_previous_day and plan.units[0].first_window == 0 and plan.units[0].end_window == 2
    on_time = dt.datetime(2019, 1, 11, 23, 59, 40, 15, tzinfo=dt.UTC)  # ends on midnight: not needed
    plan = plan_day(DAY, [raw(today)], CS, previous=dataclasses.replace(raw(prev), start=on_time))
    assert [u.file.name for u in plan.units] == [today.name] and plan.unowned == [0, 1]


def test_tone_lands_in_the_right_row_of_the_png():
    from whaledr_core.render import spectrogram_image

    render_settings = RenderSettings(axes=False, width=400, height=300, fmin=0, fmax=4000)
    t = np.arange(5 * RATE) / RATE
    rng = np.random.default_rng(0)
    for hz in (500.0, 1250.0, 3000.0):
        x = (rng.normal(0, 2000, len(t)) + 50_000 * np.sin(2 * np.pi * hz * t)).astype(np.int32)
        img = Image.open(io.BytesIO(spectrogram_image(x, render_settings, RATE, 5))).convert("L")
        assert img.size == (400, 300)
        rows = np.asarray(img, dtype=float).mean(axis=1)
        # row 0 is the top: the highest frequency
        expected = (render_settings.fmax - hz) / (render_settings.fmax - render_settings.fmin) * render_settings.height
        assert abs(int(np.argmax(rows)) - expected) <= 2, hz


def test_truncated_file_gives_what_it_holds_and_says_it_is_short(tmp_path):
    p = write_mseed(tmp_path / mseed_name(T0), T0, ramp(20 * RATE))
    with open(p, "r+b") as fh:
        fh.truncate(p.stat().st_size // 2 + 1000)  # mid-record
    t1 = T0 + dt.timedelta(seconds=20)  # the next file says how long this one should have been
    nxt = write_mseed(tmp_path / mseed_name(t1), t1, ramp(20 * RATE))
    plan, results, m, _ = run_files([p, nxt], tmp_path)
    r = results[0]
    assert r.status == "ok" and any("holds" in n and "truncated, or gaps" in n for n in r.notes), r.notes
    assert not any("holds" in n for n in results[1].notes)  # the last file: nothing says it is short
    assert 0 < len(r.clips) < 4
    assert m["totals"]["clips"] * 5 + m["totals"]["skipped_seconds"] == 86_400
