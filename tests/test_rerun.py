"""What a rerun skips and what a finished day drops: pure decisions of whaledr_core.rerun, on clips
that process_file really made and a day manifest really written to a sink (no Prefect)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np

from whaledr_core import daymanifest, listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, plan_day
from whaledr_core.dayplan import day_before_needed
from whaledr_core.fetch import cache_path
from whaledr_core.fileclips import process_file
from whaledr_core.naming import clip_key, day_manifest_key, day_prefix
from whaledr_core.render import RenderSettings
from whaledr_core.rerun import downloads_to_drop, plan_rerun
from whaledr_core.score import SCORE_VERSION
from whaledr_core.sinks import LocalSink

from conftest import DAY, RATE, mseed_name, write_mseed

CS = ClipSettings(file_seconds=20)  # short files keep it fast; the rules are the same
RS = RenderSettings(axes=False, width=64, height=64)
H = get_hydrophone("LJ01D")
MIDNIGHT = dt.datetime(2019, 1, 12, tzinfo=dt.UTC)


def raw(path: Path) -> listing.RawFile:
    codes, start = listing.parse_name(path.name)
    return listing.RawFile(str(path), path.name, start, path.stat().st_size, True, codes)


def a_finished_day(tmp_path: Path):
    rng = np.random.default_rng(0)
    paths = [write_mseed(tmp_path / "src" / mseed_name(t), t, rng.integers(-1000, 1000, 20 * RATE))
             for t in (MIDNIGHT.replace(tzinfo=None), MIDNIGHT.replace(tzinfo=None) + dt.timedelta(seconds=20))]
    plan = plan_day(DAY, [raw(p) for p in paths], CS)
    sink = LocalSink(tmp_path / "out")
    results = [process_file(u, u.file.url, None, DAY, H.node, sink, CS, RS) for u in plan.units]
    record = daymanifest.build(hydrophone=H, day=DAY, source=str(tmp_path), folder=None, plan=plan, results=results,
                            clip_settings=CS, render_settings=RS, timings={})
    sink.put(day_manifest_key(sink.prefix, H.node, DAY), daymanifest.dumps(record), "application/json")
    return plan, sink, record


def rerun_of(plan, sink, overwrite=False):
    return plan_rerun(plan, daymanifest.read(sink, H.node, DAY), sink.keys(day_prefix(sink.prefix, H.node, DAY)),
                      sink.prefix, H.node, CS, RS, overwrite)


def test_a_finished_day_is_read_back_and_reused_whole(tmp_path):
    plan, sink, record = a_finished_day(tmp_path)
    assert daymanifest.read(sink, H.node, DAY) == daymanifest.loads(daymanifest.dumps(record))
    assert record["totals"]["clips"] == 8
    rerun = rerun_of(plan, sink)
    assert set(rerun.reused) == {u.file.name for u in plan.units} and rerun.todo == []
    assert sum(len(r.clips) for r in rerun.reused.values()) == 8


def test_a_lost_clip_makes_only_its_file_work_again_with_the_other_clips_done(tmp_path):
    plan, sink, record = a_finished_day(tmp_path)
    lost = next(c for c in record["clips"] if c["file"] == plan.units[1].file.name)["id"]
    Path(sink.root, clip_key(sink.prefix, lost, "wav")).unlink()
    rerun = rerun_of(plan, sink)
    assert set(rerun.reused) == {plan.units[0].file.name}
    assert [u.file.name for u in rerun.todo] == [plan.units[1].file.name]
    second = {c["id"] for c in record["clips"] if c["file"] == plan.units[1].file.name}
    assert rerun.done[plan.units[1].file.name] == second - {lost}


def test_overwrite_redoes_everything_and_other_settings_reuse_nothing(tmp_path):
    plan, sink, _ = a_finished_day(tmp_path)
    rerun = rerun_of(plan, sink, overwrite=True)
    assert rerun.reused == {} and len(rerun.todo) == 2 and not any(rerun.done.values())
    other = dataclasses.replace(RS, nfft=1024)  # the stored clips were made otherwise: nothing trusted
    rerun = plan_rerun(plan, daymanifest.read(sink, H.node, DAY), sink.keys(day_prefix(sink.prefix, H.node, DAY)),
                       sink.prefix, H.node, CS, other)
    assert rerun.reused == {} and len(rerun.todo) == 2


def test_scores_of_another_detector_version_are_made_again_but_its_stored_clips_are_kept(tmp_path):
    plan, sink, record = a_finished_day(tmp_path)
    assert record["settings"]["score_version"] == SCORE_VERSION
    older = {**record, "settings": {k: v for k, v in record["settings"].items() if k != "score_version"}}
    sink.put(day_manifest_key(sink.prefix, H.node, DAY), daymanifest.dumps(older), "application/json")
    rerun = rerun_of(plan, sink)  # a manifest from before the version was recorded: its scores are another scale
    assert rerun.reused == {} and all(len(d) == 4 for d in rerun.done.values())


def test_a_damaged_day_manifest_only_costs_the_shortcut(tmp_path):
    plan, sink, _ = a_finished_day(tmp_path)
    sink.put(day_manifest_key(sink.prefix, H.node, DAY), b"{not json", "application/json")
    assert daymanifest.read(sink, H.node, DAY) is None
    rerun = rerun_of(plan, sink)
    assert rerun.reused == {} and all(len(d) == 4 for d in rerun.done.values())  # the clips are still stored


def test_the_day_before_is_listed_only_when_its_last_file_may_reach_into_this_day(tmp_path):
    def at(seconds: float) -> listing.RawFile:
        t = MIDNIGHT + dt.timedelta(seconds=seconds)
        codes, _ = listing.parse_name(mseed_name(t.replace(tzinfo=None)))
        return listing.RawFile("u", "n", t, None, False, codes)

    assert day_before_needed([], DAY, CS)
    assert not day_before_needed([at(0.000015)], DAY, CS)  # the fractions OOI's starts carry
    assert not day_before_needed([at(CS.tolerance_samples / RATE)], DAY, CS)
    assert day_before_needed([at(1.0)], DAY, CS)


def test_only_downloads_of_a_remote_source_are_dropped(tmp_path):
    plan, _, _ = a_finished_day(tmp_path)
    assert downloads_to_drop(plan, tmp_path / "cache") == []  # a folder source's own files: never
    remote = dataclasses.replace(plan, units=[dataclasses.replace(
        u, file=dataclasses.replace(u.file, url=f"https://ooi.example/d/{u.file.name}")) for u in plan.units])
    assert downloads_to_drop(remote, tmp_path / "cache") == [
        cache_path(tmp_path / "cache", f"https://ooi.example/d/{u.file.name}") for u in plan.units]
