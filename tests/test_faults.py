"""Faults, bad input and kills, injected on loopback: what can be finished is, what cannot is named,
and no manifest lists a sample that is not stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DAY, run_cli
from tests.faultreport import record
from tests.ooi_faults import FaultyOOI

DAY_DIR = Path("LJ01D") / f"{DAY:%Y_%m_%d}"


def day_manifest(out: Path) -> dict:
    return json.loads((out / DAY_DIR / "whaledr-day.json").read_text())


def stored_ids(out: Path) -> set[str]:
    """IDs whose PNG and WAV are both there and whole (no temp file, no empty object)."""
    folder = out / DAY_DIR
    pngs = {p.stem for p in folder.glob("*.png") if p.stat().st_size > 0}
    wavs = {p.stem for p in folder.glob("*.wav") if p.stat().st_size > 44}
    return pngs & wavs


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
                     names[3]: ["slow"], names[4]: ["short-wrong"]}
    server.missing = {names[5]}
    out, env = tmp_path / "out", {"PREFECT_HOME": str(tmp_path / "home")}
    args = ["run", DAY.isoformat(), "--source", server.url, "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--workers", "2"]
    try:
        first = run_cli(*args, env=env)
        assert first.returncode == 1, first.stdout + first.stderr
        m = day_manifest(out)
        assert m["failed_files"] == [names[5]]
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
    assert kinds == ["404", "429", "500", "503", "drop", "short-wrong", "slow"]
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
