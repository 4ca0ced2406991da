"""Files of every era of the OOI raw data server: trace structures, rates, channels and encodings.

The facts these fixtures follow are in DESIGN.md "The data": ooipy issue 174 and the history of OOI's
mi-instrument hydrophone driver (one trace per file before 7 June 2023; up to 1,200 traces all carrying
the first packet's start from June to about December 2023; one trace per ~0.25 s packet with labels
jittering by up to ~0.25 s since, with real holes possible), and LJ01D's 128 and 256 kHz days of
24-28 June 2025 in 1-minute files. The end-to-end tests serve `whaledr synth --era` mirrors over
loopback HTTP, laid out as the rawdata server's paths (`.../LJ01D/HYDBBA106/2025/05/24/...Z.mseed`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from whaledr_core import clips, daymanifest, listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, plan_day
from whaledr_core.fileclips import process_file
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import LocalSink
from whaledr_core.synth import SynthOptions, write_day

from conftest import RATE, run_cli

H = get_hydrophone("LJ01D")
DAY = dt.date(2025, 5, 24)
T0 = dt.datetime(2025, 5, 24, 3, 0, 0, 15, tzinfo=dt.UTC)
CS = ClipSettings()
RS = RenderSettings(axes=False, width=64, height=48, nfft=1024)
HEAD = {"network": "OO", "station": "HYEA2", "location": "", "channel": "YDH"}
PACKET = RATE // 4  # ~0.25 s, ooipy issue 174


def noise(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 3000, int(seconds * rate)).astype(np.int32)


def packets(data: np.ndarray, start: dt.datetime, *, shared: bool = False, jitter: float = 0.0,
            hole: tuple[float, float] | None = None, rate: int = RATE, seed: int = 1, **head) -> list:
    """One trace per packet: labels the first packet's start (`shared`) or their own, jittered."""
    from obspy import Trace, UTCDateTime

    rng = np.random.default_rng(seed)
    out = []
    packet = rate // 4
    for offset in range(0, len(data), packet):
        t = offset / rate
        if hole and hole[0] <= t < hole[1]:
            continue
        label = UTCDateTime(start) + (0 if shared else t + (rng.uniform(-jitter, jitter) if offset else 0))
        out.append(Trace(data=data[offset:offset + packet], header={**HEAD, **head, "sampling_rate": rate,
                                                                     "starttime": label}))
    return out


def write(path: Path, traces: list, encoding: str = "STEIM2") -> Path:
    from obspy import Stream

    path.parent.mkdir(parents=True, exist_ok=True)
    Stream(traces).write(str(path), format="MSEED", encoding=encoding, reclen=4096)
    return path


def name(start: dt.datetime) -> str:
    return f"OO-HYEA2--YDH-{start:%Y-%m-%dT%H:%M:%S.%f}Z.mseed"


def raw(path: Path) -> listing.RawFile:
    codes, start = listing.parse_name(path.name)
    return listing.RawFile(str(path), path.name, start, path.stat().st_size, True, codes)


def run(paths: list[Path], tmp_path: Path, day: dt.date = DAY, clip_settings: ClipSettings = CS) -> dict:
    plan = plan_day(day, [raw(p) for p in paths], clip_settings)
    sink = LocalSink(tmp_path / "out")
    results = [process_file(u, u.file.url, (lambda u=u: u.next_file.url) if u.next_file else None, day, H.node,
                            sink, clip_settings, RS) for u in plan.units]
    return daymanifest.build(hydrophone=H, day=day, source=str(tmp_path), folder=None, plan=plan, results=results,
                          clip_settings=clip_settings, render_settings=RS, timings={})


def clips_of(m: dict, path: Path) -> int:
    return sum(c["file"] == path.name for c in m["clips"])


def notes_of(m: dict, path: Path) -> str:
    return " | ".join(next(f for f in m["files"] if f["name"] == path.name)["notes"])


# --- since about December 2023: a trace per packet, jittering labels, real holes ---------------------------------


def test_a_complete_per_packet_file_gives_60_clips_and_one_with_a_3_s_hole_59(tmp_path):
    data = noise(300)
    whole = write(tmp_path / "a" / name(T0), packets(data, T0, jitter=0.25))
    holed = write(tmp_path / "b" / name(T0), packets(data, T0, jitter=0.25, hole=(101.0, 104.0)))
    fd = clips.read_file(str(whole), DAY, CS)
    assert fd.traces == 1200 and len(fd.segments) == 1
    np.testing.assert_array_equal(fd.segments[0].data, data)  # every packet where it belongs
    assert clips_of(run([whole], tmp_path / "ra"), whole) == 60

    fd = clips.read_file(str(holed), DAY, CS)
    assert [len(s.data) for s in fd.segments] == [101 * RATE, 196 * RATE]
    assert abs(fd.segments[1].start - clips.day_index(T0, DAY, RATE) - 104 * RATE) <= 0.25 * RATE  # its own label
    m = run([holed], tmp_path / "rb")
    assert clips_of(m, holed) == 59 and "1 gaps and 0 overlaps" in notes_of(m, holed)
    assert m["totals"]["clip_seconds"] + m["totals"]["skipped_seconds"] == 86_400


def test_duplicate_packets_are_dropped_in_one_pass():
    from obspy import Stream

    data = noise(300)
    traces = packets(data, T0, shared=True)
    traces[700:700] = [traces[10].copy(), traces[699].copy()]  # two packets sent again
    fd = clips.assemble(Stream(traces), DAY, CS)
    assert fd.duplicates == 2 and fd.traces == 1202
    np.testing.assert_array_equal(fd.segments[0].data, data)


# --- June to December 2023: every trace carries the first packet's start --------------------------------------


def test_a_whole_shared_start_file_is_concatenated_in_file_order(tmp_path):
    data = noise(300)
    p = write(tmp_path / name(T0), packets(data, T0, shared=True))
    fd = clips.read_file(str(p), DAY, CS)
    assert fd.traces == 1200 and len(fd.segments) == 1
    assert fd.segments[0].start == clips.day_index(T0, DAY, RATE)
    np.testing.assert_array_equal(fd.segments[0].data, data)
    m = run([p], tmp_path)
    assert clips_of(m, p) == 60 and "timing after the first packet is inferred" in notes_of(m, p)


def test_a_short_shared_start_file_is_still_used_and_says_its_timing_is_inferred(tmp_path):
    data = noise(200)  # 800 packets of 1,200
    p = write(tmp_path / name(T0), packets(data, T0, shared=True))
    t1 = T0 + dt.timedelta(seconds=300)
    nxt = write(tmp_path / name(t1), packets(noise(20, seed=2), t1, shared=True))
    m = run([p, nxt], tmp_path)
    assert clips_of(m, p) == 40 and clips_of(m, nxt) == 4
    notes = notes_of(m, p)
    assert "timing after the first packet is inferred" in notes and "truncated, or gaps" in notes


# --- hostile or odd content ---------------------------------------------------------------------------------------


def test_a_two_channel_file_keeps_its_own_channel_and_notes_the_other(tmp_path):
    ydh, other = noise(20, seed=3), noise(10, seed=4)
    traces = packets(ydh, T0, jitter=0.2)
    for i, tr in enumerate(packets(other, T0, jitter=0.2, channel="HDH")):
        traces.insert(2 * i + 1, tr)  # interleaved, as a multiplexed file would hold them
    p = write(tmp_path / name(T0), traces)
    fd = clips.read_file(str(p), DAY, CS)
    assert len(fd.segments) == 1
    np.testing.assert_array_equal(fd.segments[0].data, ydh)  # never merged into the series
    assert any("40 traces left out" in n and "OO.HYEA2..HDH" in n for n in fd.notes), fd.notes


def test_text_encoded_data_is_a_bad_file_with_its_reason(tmp_path):
    from obspy import Trace, UTCDateTime

    text = np.frombuffer(b"OOI hydrophone log line\n" * 400, dtype="|S1")
    p = write(tmp_path / name(T0), [Trace(data=text, header={**HEAD, "sampling_rate": 1,
                                                             "starttime": UTCDateTime(T0)})], encoding="ASCII")
    with pytest.raises(clips.BadFile, match="no numeric samples.*ASCII"):
        clips.read_file(str(p), DAY, CS)
    m = run([p], tmp_path)
    assert m["failed_files"] == [p.name] and "ASCII" in m["files"][0]["error"]


# --- any rate, any length -----------------------------------------------------------------------------------------


def test_a_128_khz_day_of_1_minute_files_is_resampled_to_64_khz(tmp_path):
    day = dt.date(2025, 6, 25)
    written = write_day(tmp_path, H, day, SynthOptions(files=3, file_seconds=60, rate=128_000, seed=5))
    _, files = listing.list_day(str(tmp_path), H, day)
    assert [f.name for f in files] == [p.name for p in written]
    m = run([Path(f.url) for f in files], tmp_path, day)
    assert m["complete"] and m["totals"]["clips"] == 36  # 3 minutes of data: 36 clips, not 3 x 60
    assert "resampled to 64000 Hz" in notes_of(m, written[0])
    from obspy import read
    from scipy.signal import resample_poly

    fd = clips.read_file(str(written[1]), day, CS)
    source = np.concatenate([tr.data for tr in read(str(written[1]))]).astype(np.float32)
    expected = np.round(resample_poly(source, 1, 2)).astype(np.int32)
    assert len(fd.segments) == 1 and len(fd.segments[0].data) == 60 * RATE
    np.testing.assert_array_equal(fd.segments[0].data, expected)
    wav = (tmp_path / "out" / m["clips"][0]["id"].replace("___", "/", 2)).with_suffix(".wav")
    import soundfile as sf

    assert (sf.info(str(wav)).samplerate, sf.info(str(wav)).frames) == (RATE, 5 * RATE)


def test_256_khz_gives_clips_and_a_rate_that_is_no_multiple_is_a_bad_file(tmp_path):
    fast = write(tmp_path / "a" / name(T0), packets(noise(10, 256_000), T0, rate=256_000, jitter=0.2))
    assert clips_of(run([fast], tmp_path / "ra"), fast) == 2
    odd = write(tmp_path / "b" / name(T0), packets(noise(10, 96_000), T0, rate=96_000))
    m = run([odd], tmp_path / "rb")
    assert m["failed_files"] == [odd.name]
    assert "96000 Hz is not an integer multiple of 64000 Hz" in m["files"][0]["error"]


# --- every era end to end: `whaledr synth --era` -> loopback HTTP -> `whaledr run` -------------------------------

ERA_DAYS = {"2015": dt.date(2015, 9, 3), "2019": dt.date(2019, 1, 12), "2023": dt.date(2023, 8, 10),
            "2025": dt.date(2025, 5, 24)}
ERA_NAME = {"2015": "OO-HYEA2--YDH.{:%Y-%m-%dT%H:%M:%S.%f}.mseed",
            "2019": "OO-HYEA2--YDH-{:%Y-%m-%dT%H:%M:%S.%f}.mseed",
            "2023": "OO-HYEA2--YDH-{:%Y-%m-%dT%H:%M:%S.%f}Z.mseed",
            "2025": "OO-HYEA2--YDH-{:%Y-%m-%dT%H:%M:%S.%f}Z.mseed"}


@pytest.mark.slow
@pytest.mark.parametrize("era", list(ERA_DAYS))
def test_each_era_end_to_end_over_http(era, tmp_path, static_server, prefect_api):
    """A two-file day of each era, made by `whaledr synth --era`, served over loopback HTTP and run by
    `whaledr run`: every clip made, the files under the era's names and folder, traces and duplicates
    counted. On the session's Prefect server: a run that starts its own pays ~15 s more for it (one in
    test_end_to_end does)."""
    day = ERA_DAYS[era]
    mirror = tmp_path / "mirror"
    r = run_cli("synth", str(mirror), "--date", day.isoformat(), "--files", "2", "--era", era, "--fragmented")
    assert r.returncode == 0, r.stderr
    server = static_server(mirror)
    out = tmp_path / "out"
    r = run_cli("run", day.isoformat(), "--source", server.url, "--out", str(out), "--workers", "1",
                "--cache", str(tmp_path / "cache"), env={"PREFECT_HOME": str(tmp_path / "home"), **prefect_api})
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads((out / "LJ01D" / day.strftime("%Y_%m_%d") / "whaledr-day.json").read_text())
    assert m["complete"] and m["totals"]["clips"] == 120, m["totals"]
    t0 = dt.datetime.combine(day, dt.time()) + dt.timedelta(microseconds=15)
    assert [f["name"] for f in m["files"]] == [ERA_NAME[era].format(t0 + dt.timedelta(minutes=5 * i)) for i in (0, 1)]
    assert ("/HYDBBA106/" if day >= dt.date(2025, 2, 1) else "/11-HYDBBA106/") in m["folder"]
    traces = [f["traces"] for f in m["files"]]
    if era in ("2015", "2019"):
        assert traces == [402, 1]  # --fragmented: 401 fragments and a packet twice
    else:  # ~1,200 packets (obspy joins the rare two whose jittered label happens to meet)
        assert all(n > 1_100 for n in traces), traces
    assert [f["duplicates"] for f in m["files"]] == [1, 0]


@pytest.mark.slow
def test_whaledr_run_names_a_mseed_file_it_cannot_parse_and_exits_1(tmp_path, static_server, prefect_api):
    """A file whose name is no known OOI form fails the day by name, and the other file's clips are made."""
    from whaledr_core.synth import write_indexes

    mirror = tmp_path / "mirror"
    assert run_cli("synth", str(mirror), "--date", "2025-05-24", "--files", "1").returncode == 0
    (good,) = mirror.rglob("*.mseed")
    odd = good.parent / "OO_HYEA2__YDH_2025_05_24T00_05_00.mseed"  # a naming change on the server
    odd.write_bytes(good.read_bytes())
    write_indexes(mirror)
    server = static_server(mirror)
    out = tmp_path / "out"
    r = run_cli("run", "2025-05-24", "--source", server.url, "--out", str(out), "--workers", "1",
                "--cache", str(tmp_path / "cache"), env={"PREFECT_HOME": str(tmp_path / "home"), **prefect_api})
    assert r.returncode == 1, r.stdout + r.stderr
    assert odd.name in r.stderr and "INCOMPLETE (1 files failed)" in r.stdout
    m = json.loads((out / "LJ01D" / "2025_05_24" / "whaledr-day.json").read_text())
    assert m["failed_files"] == [odd.name] and m["totals"]["clips"] == 60
    entry = next(f for f in m["files"] if f["name"] == odd.name)
    assert entry["status"] == "failed" and "no known OOI form" in entry["error"]
