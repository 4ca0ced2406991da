"""Faults, bad input and kills, injected on loopback: what can be finished is, what cannot is named,
and no manifest lists a sample that is not stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DAY, run_cli
from faultreport import record
from ooi_faults import FaultyOOI

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them

DAY_DIR = Path("LJ01D") / f"{DAY:%Y_%m_%d}"


def day_manifest(out: Path) -> dict:
    return json.loads((out / DAY_DIR / "whaledr-day.json").read_text())


def stored_ids(out: Path) -> set[str]:
    """IDs whose image and WAV are both there and whole (no temp file, no empty object)."""
    folder = out / DAY_DIR
    images = {p.stem for p in folder.glob("*.jpg") if p.stat().st_size > 0}
    wavs = {p.stem for p in folder.glob("*.wav") if p.stat().st_size > 44}
    return images & wavs


def listed_ids(out: Path) -> set[str]:
    return {c["id"].rsplit("___", 1)[-1] for c in day_manifest(out)["clips"]}


def assert_nothing_listed_that_is_not_stored(out: Path) -> None:
    assert listed_ids(out) <= stored_ids(out)
    app = json.loads((out / "whalemanifest.json").read_text())
    assert {i.rsplit("___", 1)[-1] for i in app} <= stored_ids(out)
    assert not [p for p in (out / DAY_DIR).iterdir() if p.name.startswith(".")]  # no temp file left visible


@pytest.fixture(scope="module")
def six_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mirror6")
    r = run_cli("synth", str(root), "--date", DAY.isoformat(), "--files", "6")
    assert r.returncode == 0, r.stderr
    return root


def file_names(mirror: Path) -> list[str]:
    return sorted(p.name for p in mirror.rglob("*.mseed"))


def test_ooi_faults_recoverable_files_finish_the_rest_are_named_and_a_rerun_finishes_the_day(six_files, tmp_path):
    names = file_names(six_files)
    server = FaultyOOI(six_files)
    server.faults = {names[0]: ["drop", "drop"], names[1]: ["503", "503", "500"], names[2]: ["429", "429"],
                     names[3]: ["short-right", "slow"], names[4]: ["short-wrong"]}
    server.missing = {names[5]}
    out, env = tmp_path / "out", {"PREFECT_HOME": str(tmp_path / "home")}
    args = ["run", DAY.isoformat(), "--source", server.url, "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--workers", "2"]
    try:
        first = run_cli(*args, env=env)
        assert first.returncode == 1, first.stdout + first.stderr
        m = day_manifest(out)
        assert m["failed_files"] == [names[5]], [(f["name"], f.get("error")) for f in m["files"]]
        assert names[5] in first.stderr and "INCOMPLETE (1 files failed)" in first.stdout
        statuses = {f["name"]: f["status"] for f in m["files"]}
        assert [statuses[n] for n in names[:5]] == ["ok"] * 5
        assert "not_fetched" in m["totals"]["skipped_by_reason"]
        assert m["totals"]["clip_seconds"] + m["totals"]["skipped_seconds"] == 86400
        assert_nothing_listed_that_is_not_stored(out)
        recovered = sum(statuses[n] == "ok" for n in server.faults)
        injected = len(server.served)

        server.missing.clear()  # the file is back
        second = run_cli(*args, env=env)
        assert second.returncode == 0, second.stdout + second.stderr
        m = day_manifest(out)
        assert m["complete"] and m["totals"]["clips"] == 360 and m["totals"]["clips_present"] >= 290
        assert listed_ids(out) == stored_ids(out) and len(stored_ids(out)) == 360
        assert_nothing_listed_that_is_not_stored(out)
    finally:
        server.stop()
    kinds = sorted({a for _, a in server.served})
    assert kinds == ["404", "429", "500", "503", "drop", "short-right", "short-wrong", "slow"]
    record("OOI server faults", faults=injected, kinds=", ".join(kinds), files=6, recovered=recovered,
           named=1, finished_by_rerun=1, days=1, days_completed=1, objects_lost=len(listed_ids(out) - stored_ids(out)))


def test_a_listing_that_changes_between_runs_is_planned_again(six_files, tmp_path):
    names = file_names(six_files)
    server = FaultyOOI(six_files)
    server.hidden, server.hidden_listings = {names[-1]}, 1  # the last file arrives after the first listing
    out, env = tmp_path / "out", {"PREFECT_HOME": str(tmp_path / "home")}
    args = ["run", DAY.isoformat(), "--source", server.url, "--out", str(out), "--cache", str(tmp_path / "cache")]
    try:
        first = run_cli(*args, env=env)
        assert first.returncode == 0, first.stderr
        assert day_manifest(out)["totals"]["files_listed"] == 5 and len(stored_ids(out)) == 300
        second = run_cli(*args, env=env)
        assert second.returncode == 0, second.stderr
        m = day_manifest(out)
        assert m["totals"]["files_listed"] == 6 and m["totals"]["clips_written"] == 60
        assert listed_ids(out) == stored_ids(out) and len(stored_ids(out)) == 360
    finally:
        server.stop()
    record("OOI listing changes between runs", faults=1, kinds="a file listed late", files=6, recovered=1,
           named=0, finished_by_rerun=1, days=1, days_completed=1, objects_lost=0)


def bad_data_mirror(root: Path) -> dict[str, str]:
    """A day folder of two good files and one of each kind of bad data, each in its own 5-minute
    slot; returns {file name: what it is}."""
    import datetime as dt

    import numpy as np
    from obspy import Stream, Trace, UTCDateTime

    from conftest import RATE, mseed_name, write_mseed

    folder = root / "CE02SHBP" / "LJ01D" / "11-HYDBBA106" / DAY.strftime("%Y/%m/%d")
    rng = np.random.default_rng(7)
    kinds: dict[str, str] = {}

    def slot(i: int) -> tuple[dt.datetime, Path]:
        start = dt.datetime.combine(DAY, dt.time()) + dt.timedelta(minutes=5 * i)
        return start, folder / mseed_name(start)

    def noise(seconds: float = 300) -> np.ndarray:
        return rng.normal(0, 2000, int(seconds * RATE)).astype(np.int32)

    for i, kind in enumerate(["good", "random bytes", "truncated record", "unknown encoding", "200 Hz channel",
                              "1,000+ fragments", "duplicated overlapping packets", "empty file", "good"]):
        start, path = slot(i)
        kinds[path.name] = kind
        if kind == "good":
            write_mseed(path, start, noise())
        elif kind == "random bytes":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(rng.bytes(3_000_000))
        elif kind == "truncated record":
            write_mseed(path, start, noise())
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2 + 1234])  # ends in the middle of a record
        elif kind == "unknown encoding":
            write_mseed(path, start, noise())
            data = bytearray(path.read_bytes())
            for rec in range(0, len(data), 4096):  # walk each record's blockettes to blockette 1000
                at = int.from_bytes(data[rec + 46:rec + 48], "big")
                while at and int.from_bytes(data[rec + at:rec + at + 2], "big") != 1000:
                    at = int.from_bytes(data[rec + at + 2:rec + at + 4], "big")
                data[rec + at + 4] = 99  # its encoding byte: no such encoding
            path.write_bytes(bytes(data))
        elif kind == "200 Hz channel":
            tr = Trace(data=noise(1.0)[:60_000], header={"network": "OO", "station": "HYEA2", "channel": "YDH",
                                                         "sampling_rate": 200, "starttime": UTCDateTime(start)})
            Stream([tr]).write(str(path), format="MSEED", encoding="STEIM2", reclen=4096)
        elif kind == "1,000+ fragments":
            write_mseed(path, start, noise(), fragments=1200, jitter=2e-6, seed=3)
        elif kind == "duplicated overlapping packets":
            write_mseed(path, start, noise())
            data = path.read_bytes()
            records = [data[r:r + 4096] for r in range(0, len(data), 4096)]
            path.write_bytes(b"".join(records + records[100:400]))  # 300 packets sent twice
        elif kind == "empty file":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    return kinds


EXPECTED_BAD = {"random bytes": "not readable as miniSEED", "unknown encoding": "not readable as miniSEED",
                "200 Hz channel": "no 64000 Hz trace (rates found: [200.0])", "empty file": "not readable as miniSEED"}


def test_bad_data_each_file_gets_its_own_error_and_the_day_goes_on(tmp_path):
    kinds = bad_data_mirror(tmp_path / "mirror")
    out, env = tmp_path / "out", {"PREFECT_HOME": str(tmp_path / "home")}
    r = run_cli("run", DAY.isoformat(), "--source", str(tmp_path / "mirror"), "--out", str(out), "--workers", "2",
                env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    m = day_manifest(out)
    files = {f["name"]: f for f in m["files"]}
    bad = {name for name, kind in kinds.items() if kind in EXPECTED_BAD}
    assert set(m["failed_files"]) == bad
    for name, kind in kinds.items():
        f = files[name]
        if kind in EXPECTED_BAD:
            assert f["status"] == "failed" and EXPECTED_BAD[kind] in f["error"], (kind, f)
            assert name in r.stderr  # named in the summary, too
        else:
            assert f["status"] == "ok", (kind, f)
    clips_by_file = {}
    for c in m["clips"]:
        clips_by_file[c["file"]] = clips_by_file.get(c["file"], 0) + 1
    by_kind = {kinds[n]: clips_by_file.get(n, 0) for n in kinds if kinds[n] != "good"}
    assert by_kind["1,000+ fragments"] == 60 and by_kind["duplicated overlapping packets"] == 60
    assert 20 <= by_kind["truncated record"] < 60  # what the readable records hold, the rest skipped as short/gap
    truncated = [note for n in kinds if kinds[n] == "truncated record" for note in files[n]["notes"]]
    assert "truncated, or gaps" in " ".join(truncated)
    reasons = {s["reason"] for s in m["skipped"] if kinds.get(s.get("file")) in EXPECTED_BAD}
    assert reasons == {"bad_file"}
    assert m["totals"]["clip_seconds"] + m["totals"]["skipped_seconds"] == 86400
    assert m["totals"]["peak_worker_rss_mib"] < 1024  # the bound README states
    assert_nothing_listed_that_is_not_stored(out)
    record("Bad data files", faults=len(kinds) - 2, kinds=", ".join(k for k in kinds.values() if k != "good"),
           files=len(kinds), recovered=len(kinds) - len(bad), named=len(bad), finished_by_rerun=0, days=1,
           days_completed=0, objects_lost=len(listed_ids(out) - stored_ids(out)),
           peak_worker_rss_mib=m["totals"]["peak_worker_rss_mib"])


def test_s3_faults_every_upload_lands_whole_and_no_manifest_lists_what_is_not_stored(
        synth_mirror, static_server, tmp_path, s3_url, bucket):
    from whaledr_core.render import RenderSettings, wav_size

    from s3proxy import FaultyS3Proxy
    from test_end_to_end import expected_ids
    from test_ship import FOLDER, objects, run_env, save_blocks

    client, name = bucket
    proxy = FaultyS3Proxy(s3_url, fail_every=4, cut_every=9)
    try:
        save_blocks(tmp_path, proxy.url, name)
        server = static_server(synth_mirror)
        r = run_cli("run", DAY.isoformat(), "--source", server.url, "--s3-block", "whaledr-s3", "--workers", "2",
                    "--cache", str(tmp_path / "cache"), env=run_env(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        proxy.stop()
    assert proxy.failed >= 50 and proxy.cut >= 20, (proxy.failed, proxy.cut)
    stored = objects(client, name)
    day_key = f"{FOLDER}/{DAY_DIR.as_posix()}/whaledr-day.json"
    day = json.loads(client.get_object(Bucket=name, Key=day_key)["Body"].read())
    app = set(json.loads(client.get_object(Bucket=name, Key=f"{FOLDER}/whalemanifest.json")["Body"].read()))
    listed = {c["id"] for c in day["clips"]}
    assert listed == app == expected_ids()
    whole_wav = wav_size(RenderSettings(), 5 * 64_000)
    for i in listed:
        key = f"{FOLDER}/{i.replace('___', '/')}"
        assert stored[key + ".wav"]["Size"] == whole_wav
        jpeg = client.get_object(Bucket=name, Key=key + ".jpg")["Body"].read()
        assert jpeg.startswith(b"\xff\xd8\xff") and jpeg.endswith(b"\xff\xd9")  # whole (SOI to EOI), not a part
    lost = len([i for i in listed if f"{FOLDER}/{i.replace('___', '/')}.jpg" not in stored])
    record("S3 throttling, 5xx and cut connections", faults=proxy.failed + proxy.cut,
           kinds="503 SlowDown, 500, connection cut before / after S3 stored the object",
           files=3, recovered=3, named=0, finished_by_rerun=0, days=1, days_completed=1, objects_lost=lost)


def whole(out: Path) -> None:
    """Every visible object is whole: a WAV of the exact size, a JPEG from SOI to EOI."""
    from whaledr_core.render import RenderSettings, wav_size

    for p in (out / DAY_DIR).glob("*.wav"):
        assert p.stat().st_size == wav_size(RenderSettings(), 5 * 64_000), p
    for p in (out / DAY_DIR).glob("*.jpg"):
        data = p.read_bytes()
        assert data.startswith(b"\xff\xd8\xff") and data.endswith(b"\xff\xd9"), p


@pytest.mark.parametrize("victim", ["a worker", "the whole run"])
def test_kill_9_part_way_then_a_rerun_finishes_the_day_with_nothing_missing_or_twice(victim, six_files, tmp_path):
    import os
    import signal
    import subprocess
    import time

    import psutil

    from conftest import WHALEDR

    out = tmp_path / "out"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    args = ["run", DAY.isoformat(), "--source", str(six_files), "--out", str(out), "--workers", "2"]
    run = subprocess.Popen([*WHALEDR, *args], env=env, cwd=Path(__file__).parent.parent, start_new_session=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(list((out / DAY_DIR).glob("*.jpg"))) < 20 if (out / DAY_DIR).exists() else True:
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.05)
    killed_at = len(list((out / DAY_DIR).glob("*.jpg")))
    if victim == "a worker":
        workers = [p for p in psutil.Process(run.pid).children(recursive=True)
                   if "multiprocessing" in " ".join(p.cmdline())]
        assert workers
        workers[0].kill()  # SIGKILL
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode in (0, 1), stderr  # it ends, and says how it ended
    else:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate(timeout=60)
    whole(out)
    if (out / DAY_DIR / "whaledr-day.json").exists():
        assert listed_ids(out) <= stored_ids(out)

    again = run_cli(*args, env={"PREFECT_HOME": str(tmp_path / "home")})
    assert again.returncode == 0, again.stdout + again.stderr
    m = day_manifest(out)
    ids = [c["id"] for c in m["clips"]]
    assert m["complete"] and len(ids) == len(set(ids)) == 360  # nothing missing, nothing twice
    assert listed_ids(out) == stored_ids(out)
    assert len(list((out / DAY_DIR).glob("*.jpg"))) == len(list((out / DAY_DIR).glob("*.wav"))) == 360
    whole(out)
    by_run = victim == "a worker" and run.returncode == 0  # the pool replaced its worker and the run went on
    record(f"kill -9 of {victim}", faults=1, kinds=f"SIGKILL after {killed_at} clips", files=6,
           recovered=6 if by_run else 0, named=0, finished_by_rerun=0 if by_run else 1, days=1, days_completed=1,
           objects_lost=0,
           clips_before_kill=killed_at, killed_run_exit=run.returncode)


@pytest.mark.parametrize("page", [None, '{"status": "ok"}'])
def test_a_source_that_is_not_an_ooi_style_server_is_one_line_and_exit_2(page, static_server, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    if page:
        (site / "index.html").write_text(page)  # an API or a web page, not a file tree
    server = static_server(site)
    r = run_cli("run", DAY.isoformat(), "--source", server.url + ("" if page else "/no-such-tree"),  # a 404
                env={"PREFECT_HOME": str(tmp_path / "home")}, timeout=120)
    assert r.returncode == 2 and "is not an OOI-style file server" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "home").exists()


def test_a_refused_s3_secret_fails_the_run_in_s3s_words_and_the_secret_is_nowhere(
        synth_mirror, tmp_path, s3_url, bucket):
    from s3proxy import FaultyS3Proxy
    from test_ship import S3_SECRET, assert_no_secret, run_env, save_blocks

    client, name = bucket
    proxy = FaultyS3Proxy(s3_url, deny=True)
    try:
        outputs = [save_blocks(tmp_path, proxy.url, name)]
        r = run_cli("run", DAY.isoformat(), "--source", str(synth_mirror), "--s3-block", "whaledr-s3",
                    "--workers", "1", "-v", env=run_env(tmp_path))
        outputs.append(r)
    finally:
        proxy.stop()
    assert r.returncode == 1 and "SignatureDoesNotMatch" in r.stderr, r.stdout + r.stderr
    assert_no_secret(tmp_path, outputs, client, name, [S3_SECRET])  # output, tracebacks, Prefect's database
    record("Secrets: S3 refuses the key", faults=1, kinds="403 SignatureDoesNotMatch on every request", files=0,
           recovered=0, named=0, finished_by_rerun=0, days=0, days_completed=0, objects_lost=0, secrets_leaked=0)


SECRET_WORDS = ("secret", "token", "password", "access-key", "access_key")


def test_no_documented_command_and_no_option_takes_a_secret_on_the_command_line():
    """No command in the README or the documentation site puts a secret on a command line (shell history,
    `ps`), and no `whaledr` option takes one."""
    import re

    import typer.main

    from flows.cli import app

    root = Path(__file__).parent.parent  # the README and every page of the documentation site
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    commands = [line for page in pages for block in page.read_text().split("```")[1::2] for line in block.splitlines()]
    assert any("whaledr blocks" in line for line in commands)  # the command that takes secrets is documented
    for line in commands:
        code = line.split("#")[0]
        for m in re.finditer(r"([A-Z_]*(SECRET|TOKEN|PASSWORD|ACCESS_KEY)[A-Z_]*)=(\S*)", code):
            assert m.group(3).startswith("$") or m.group(3) in ("...", ""), line  # a value typed in the shell
        assert not re.search(r"--[a-z-]*(secret|token|password)[a-z-]*[ =]\S", code), line
    group = typer.main.get_command(app)
    offending = [f"whaledr {name} {o}" for name, command in group.commands.items() for param in command.params
                 for o in param.opts if any(w in o.lower() for w in SECRET_WORDS)]
    assert offending == []


def test_a_day_of_ooi_defects_gives_every_clip_its_data_holds_by_sizes_or_by_names_alone(tmp_path, static_server):
    """The issue's day (tests/ooi_defects.py, from OOI's published defects): duplicated and
    shared-start packets, a companion 16 us after a real file, a 64-sample stub 0.4 ms after one, a
    short file, an `addendum/` copy and a `.png`, over Apache-style pages while the server cuts two
    transfers. Every file is downloaded and read; the day gives exactly its 30 clips, each WAV
    holding the counts recorded at its time and saying so in its RIFF INFO; the day is complete.

    Served again by `python -m http.server` (a listing without sizes: names alone plan) with a top-8
    budget (two passes), the companion and the stub take the real files' windows at first; two
    repairs serve them from the real files, all 30 whole windows are scored, the 8 chosen hold the
    right counts, and a rerun writes nothing."""
    import soundfile as sf

    from ooi_defects import DAY as DEFECT_DAY
    from ooi_defects import defect_day, wav_counts, window_of

    mirror = tmp_path / "mirror"
    day = defect_day(mirror)
    folder = Path("LJ01A") / f"{DEFECT_DAY:%Y_%m_%d}"
    server = FaultyOOI(mirror)
    server.faults = {day.files["real, with a companion"].name: ["drop"], day.files["short"].name: ["short-right"]}
    env = {"PREFECT_HOME": str(tmp_path / "home")}
    base = ["run", DEFECT_DAY.isoformat(), "--hydrophone", "LJ01A", "--wav", "int32-raw", "--workers", "2",
            "--cache", str(tmp_path / "cache")]

    def checked(out: Path, m: dict) -> None:
        """Each listed clip's WAV: the counts recorded at its time, and its own provenance."""
        for c in m["clips"]:
            wav = (out / folder / c["id"].rsplit("___", 1)[-1]).with_suffix(".wav")
            expected, mask = day.rec.window(window_of(c["start"]))
            np.testing.assert_array_equal(wav_counts(wav.read_bytes())[mask], expected[mask], err_msg=c["id"])
            with sf.SoundFile(str(wav)) as f:
                assert f.date == c["start"].replace("Z", ".000000Z") and f.artist == "RS01SLBS-LJ01A-09-HYDBBA102"
                assert f"source={c['file']}" in f.comment
        assert m["checks"] == {"day_covered": True, "data_accounted": True} and m["complete"]
        assert m["totals"]["clip_seconds"] + m["totals"]["skipped_seconds"] == 86_400

    import numpy as np

    try:
        out = tmp_path / "out"
        r = run_cli(*base, "--source", server.url, "--out", str(out), env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        server.stop()
    assert sorted(a for _, a in server.served) == ["drop", "short-right"]
    m = json.loads((out / folder / "whaledr-day.json").read_text())
    per_file = {what: sum(c["file"] == p.name for c in m["clips"]) for what, p in day.files.items()}
    assert per_file == day.clips and m["totals"]["clips"] == 30 and m["totals"]["repairs"] == 0
    files = {f["name"]: f for f in m["files"]}
    assert {f["status"] for f in files.values()} == {"ok"} and len(files) == 7  # every file read, the copy once
    assert files[day.files["duplicated packets"].name]["duplicates"] == 20
    assert files[day.files["stub"].name]["windows_served"] == 0
    assert "addendum" in " ".join(files[day.files["also in addendum"].name]["notes"])
    checked(out, m)
    assert r.stdout.strip().endswith("complete"), r.stdout

    for page in mirror.rglob("index.html"):
        page.unlink()  # http.server lists names without sizes
    plain = static_server(mirror)
    out = tmp_path / "names"
    args = [*base, "--source", plain.url, "--out", str(out), "--publish", "top:8"]
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    m = json.loads((out / folder / "whaledr-day.json").read_text())
    assert m["totals"]["repairs"] == 2 and [x["files"] for x in m["repairs"]] == [
        [day.files["real, with a companion"].name, day.files["companion"].name],
        [day.files["real, with a stub"].name, day.files["stub"].name]]
    assert len(m["published"]) == 30 and m["totals"]["published"] == m["totals"]["clips"] == 8
    checked(out, m)
    again = run_cli(*args, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    m = json.loads((out / folder / "whaledr-day.json").read_text())
    assert m["totals"]["clips_written"] == 0 and m["totals"]["clips"] == 8 and m["complete"]
    record("OOI's documented file defects", faults=9, kinds="stub, companion, duplicated packets, shared starts, "
           "short file, addendum copy, .png, cut transfers, no sizes listed", files=7, recovered=7, named=0,
           finished_by_rerun=0, days=2, days_completed=2, objects_lost=0)
