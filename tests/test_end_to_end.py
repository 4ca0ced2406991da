"""`whaledr synth` -> `python -m http.server` -> `whaledr run`, as a user would run them, and a rerun."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from conftest import DAY, RATE, free_port, run_cli

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them

NODE_DAY = "LJ01D/2019_01_12"


def expected_ids() -> set[str]:
    """Worked out by hand from what synth wrote: 00:00:00.000015 + 300 s, then a 2.5 s gap, then
    files at 00:05:02.5 and 00:10:02.5. The windows 00:05:00 and 00:15:00 are 2.5 s short."""
    t0 = dt.datetime(2019, 1, 12)
    starts = [t0 + dt.timedelta(seconds=5 * k) for k in range(0, 60)]
    starts += [t0 + dt.timedelta(seconds=5 * k) for k in range(61, 180)]
    return {f"LJ01D___2019_01_12___OO_HYEA2__YDH_{t:%Y_%m_%dT%H_%M_%S}" for t in starts}


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def env(prefect_api):
    return prefect_api


def test_day_over_http_to_a_folder_then_a_rerun_renders_nothing(synth_mirror, static_server, tmp_path, env):
    server = static_server(synth_mirror)
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", DAY.isoformat(), "--hydrophone", "LJ01D", "--source", server.url, "--out", str(out),
            "--workers", "2", "--cache", str(cache)]
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = r.stdout.strip().splitlines()[-1]
    assert "3 files, 179 clips written, 0 already present" in summary and "complete" in summary

    ids = expected_ids()
    stored = {p.name for p in (out / NODE_DAY).iterdir()}
    assert stored == {i.split("___")[2] + ext for i in ids for ext in (".jpg", ".wav")} | {"whaledr-day.json",
                                                                                         "overview.png"}
    for name in sorted(stored)[::25]:
        path = out / NODE_DAY / name
        if name.endswith(".jpg"):
            with Image.open(path) as img:
                assert (img.format, img.size) == ("JPEG", (512, 512))  # square, as the app shows it
                img.verify()
        elif name.endswith(".wav"):
            info = sf.info(str(path))
            assert (info.samplerate, info.frames, info.channels) == (RATE, 5 * RATE, 1)

    m = json.loads((out / NODE_DAY / "whaledr-day.json").read_text())
    assert {c["id"] for c in m["clips"]} == ids
    assert json.loads((out / "whalemanifest.json").read_text()) == sorted(ids)
    assert sorted(p.name for p in out.iterdir()) == ["LJ01D", "whalemanifest.json"]  # no lock file published
    t = m["totals"]
    assert m["complete"] and t["files_listed"] == 3 and t["clips"] == 179
    assert t["skipped_by_reason"] == {"short": 2, "gap": 17_280 - 179 - 2}
    assert t["clip_seconds"] + t["skipped_seconds"] == t["day_seconds"] == 86_400
    assert all(f["size"] and f["status"] == "ok" for f in m["files"])
    assert m["settings"]["render"]["nfft"] == 4096 and m["software"]["name"] == "whaledr-pipeline"
    assert not list(cache.rglob("*.mseed")), "a finished day's downloads are removed"

    # the straddling clip at 00:10:00 holds the tail of file 2 and the head of file 3, scaled as documented
    from obspy import read

    files = sorted(synth_mirror.rglob("*.mseed"))
    a, b = (np.concatenate([tr.data for tr in read(str(f))]).astype(np.float64) for f in files[1:])  # packets
    start_b = round((2 * 300 + 2.5 + 15e-6) * RATE)  # day index of file 3's first sample
    source = np.concatenate([a[-(start_b - 600 * RATE):], b[: 605 * RATE - start_b]])
    x = source - source.mean()
    wav, _ = sf.read(str(out / NODE_DAY / "OO_HYEA2__YDH_2019_01_12T00_10_00.wav"), dtype="int16")
    np.testing.assert_array_equal(wav, np.round(x * 32767 / np.abs(x).max()).astype(np.int16))

    before = snapshot(out)
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stderr
    assert "0 clips written, 179 already present" in r.stdout
    rerun = json.loads((out / NODE_DAY / "whaledr-day.json").read_text())
    assert all(f["reused"] for f in rerun["files"]), "finished files are neither downloaded nor decoded again"
    assert not cache.exists() or not list(cache.rglob("*.mseed"))
    assert {c["id"] for c in rerun["clips"]} == ids and rerun["totals"]["skipped_windows"] == t["skipped_windows"]
    after = snapshot(out)
    assert {k: v for k, v in after.items() if not k.endswith("whaledr-day.json")} == {
        k: v for k, v in before.items() if not k.endswith("whaledr-day.json")}


def test_a_rerun_after_lost_clips_renders_only_those(mirror_copy, tmp_path, env):
    out = tmp_path / "out"
    args = ["run", DAY.isoformat(), "--source", str(mirror_copy), "--out", str(out), "--workers", "1"]
    assert run_cli(*args, env=env).returncode == 0
    (out / NODE_DAY / "OO_HYEA2__YDH_2019_01_12T00_07_00.jpg").unlink()
    (out / NODE_DAY / "whaledr-day.json").unlink()  # as if the first run had been killed before the end
    before = snapshot(out)
    r = run_cli(*args, env=env)
    assert r.returncode == 0 and "1 clips written, 178 already present" in r.stdout, r.stdout + r.stderr
    changed = {k for k, v in snapshot(out).items() if before.get(k) != v}
    assert changed == {f"{NODE_DAY}/OO_HYEA2__YDH_2019_01_12T00_07_00.jpg",
                       f"{NODE_DAY}/OO_HYEA2__YDH_2019_01_12T00_07_00.wav", f"{NODE_DAY}/whaledr-day.json"}
    # every file was read again and the overview drawn again: the same picture, so not written again


def test_a_bad_file_fails_the_day_but_not_the_others(mirror_copy, tmp_path, env):
    bad = sorted(mirror_copy.rglob("*.mseed"))[1]
    bad.write_bytes(b"\0" * 100_000)
    out = tmp_path / "out"
    r = run_cli("run", DAY.isoformat(), "--source", str(mirror_copy), "--out", str(out), "--workers", "2", env=env)
    assert r.returncode == 1
    assert bad.name in r.stderr and "INCOMPLETE" in r.stdout
    m = json.loads((out / NODE_DAY / "whaledr-day.json").read_text())
    assert m["failed_files"] == [bad.name] and not m["complete"]
    # file 2 owned 00:05:05 to 00:10:05; the window straddling into file 3 holds file 3's first 2.5 s,
    # and is served again from them (a short window, not a bad file's)
    assert m["totals"]["skipped_by_reason"]["bad_file"] == 59 and m["totals"]["repairs"] == 1
    assert [(s["start"], s["reason"], round(s["data_seconds"], 3)) for s in m["skipped"]
            if s["start"] == "2019-01-12T00:10:00Z"] == [("2019-01-12T00:10:00Z", "short", 2.5)]
    assert m["totals"]["clip_seconds"] + m["totals"]["skipped_seconds"] == 86_400
    assert m["totals"]["clips"] == 179 - 60


@pytest.mark.parametrize("args, message", [
    (["run", "2019-13-01"], "invalid date"),
    (["run", "2019-01-12", "--hydrophone", "XX99"], "unknown hydrophone"),
    (["run", "2019-01-12", "--source", "/no/such/folder"], "neither an http(s) URL nor an existing folder"),
    (["run", "2019-01-12", "--clip-seconds", "7"], "must divide a day"),
    (["run", "2019-01-12", "--band", "0,40000", "--source", "."], "Nyquist"),
    (["run", "2019-01-12", "--source", f"http://127.0.0.1:{free_port()}"], "cannot reach"),
    (["run", "2019-01-12", "--size", "512"], "WIDTHxHEIGHT"),
    (["run", "2019-01-12", "--source", ".", "--s3-block", "no-such-block"], "no S3 Bucket block named 'no-such-block'"),
    (["sync", "--firebase-block", "no-such-block"], "block named 'no-such-block'"),
    (["blocks", "--firebase-url", "firebase.example"], "must start with https://"),
])
def test_users_mistakes_give_one_line_and_exit_2_before_any_work(args, message, env):
    r = run_cli(*args, env=env, timeout=120)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_day_without_data_exits_1_and_says_so(synth_mirror, tmp_path):
    """With no PREFECT_API_URL, `whaledr run` starts a server of its own for the run, logging to its
    home (run_cli checks that log for tracebacks), and stops it."""
    home = tmp_path / "prefect-home"
    r = run_cli("run", "2019-01-20", "--source", str(synth_mirror), "--out", str(tmp_path / "out"),
                env={"PREFECT_HOME": str(home)})
    assert (home / "whaledr-run-server.log").exists()
    assert "Traceback" not in r.stderr
    assert r.returncode == 1 and "no data files for LJ01D on 2019-01-20" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_a_listed_file_that_answers_404_is_named_and_a_later_rerun_finishes_the_day(
        mirror_copy, static_server, tmp_path, env):
    last = sorted(mirror_copy.rglob("*.mseed"))[-1]  # the addendum file, into which file 2's last window runs
    kept = tmp_path / "kept.mseed"
    last.rename(kept)  # still listed by index.html: the server answers 404
    server = static_server(mirror_copy)
    out = tmp_path / "out"
    args = ["run", DAY.isoformat(), "--source", server.url, "--out", str(out), "--workers", "2",
            "--cache", str(tmp_path / "cache")]
    r = run_cli(*args, env=env)
    assert r.returncode == 1 and last.name in r.stderr, r.stdout + r.stderr
    m = json.loads((out / NODE_DAY / "whaledr-day.json").read_text())
    assert m["failed_files"] == [last.name]
    assert m["totals"]["skipped_by_reason"]["not_fetched"] == 17_280 - 121
    assert "404" in next(f["error"] for f in m["files"] if f["name"] == last.name)
    assert next(f for f in m["files"] if f["name"] == sorted(mirror_copy.rglob("*.mseed"))[1].name)["next_missing"]
    assert m["totals"]["clips"] == 119  # the window at 00:10:00 waits for the missing file's head

    kept.rename(last)
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads((out / NODE_DAY / "whaledr-day.json").read_text())
    assert m["complete"] and {c["id"] for c in m["clips"]} == expected_ids()
    assert "60 clips written, 119 already present" in r.stdout
