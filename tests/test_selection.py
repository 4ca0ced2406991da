"""Which clips a day publishes and stores (issue 15), as the day flow wires it, without Prefect: a
synthetic stretch with calls and distractors (`synth` with events, whose ground truth says where
the calls are) scored by process_file, chosen by rerun.choose_day, stored in a second pass, and
recorded by daymanifest; then reruns with other budgets."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from whaledr_core import appmanifest, daymanifest, events, listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, plan_day
from whaledr_core.fileclips import NOT_STORED, FileResult, process_file, with_first_pass
from whaledr_core.naming import day_manifest_key, day_prefix
from whaledr_core.publish import PUBLISHED, parse_budget
from whaledr_core.render import RenderSettings
from whaledr_core.rerun import choose_day, plan_rerun
from whaledr_core.sinks import LocalSink
from whaledr_core.synth import SynthOptions, ground_truth_path, write_day

DAY = dt.date(2019, 1, 12)
H = get_hydrophone("LJ01D")
CS = ClipSettings()
RS = RenderSettings(axes=False, width=64, height=64)  # small images keep it fast; scores use the spectrogram


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("events")
    write_day(root, H, DAY, SynthOptions(files=2, events_snr=10.0, seed=3))
    return root


FOUND = ("fin", "blue", "humpback")
"""The kinds the score finds most reliably (docs, "Which clips reach volunteers": minke pulse trains
need 8-10 dB on a clean sea, a known limit of the score, not of the wiring tested here)."""


def call_windows(mirror: Path) -> tuple[set[int], set[int], set[int]]:
    """(windows holding >= 0.5 s of a call of a FOUND kind, windows holding any of any call, windows
    holding a click and no call)."""
    evs = events.loads(ground_truth_path(mirror, H, DAY).read_bytes())
    calls = {k for e in evs if e.kind in FOUND for k in e.windows(CS.clip_seconds)}
    any_call = {k for e in evs if e.is_call for k in e.windows(CS.clip_seconds, 0.05)}
    clicks = {k for e in evs if e.kind == "click" for k in e.windows(CS.clip_seconds, 0.0)} - any_call
    return calls, any_call, clicks


def run_day(mirror: Path, out: Path, publish: str, store_all: bool = False, overwrite: bool = False) -> dict:
    """What flows.day does, in order: plan, pass 1 (score; encode only with `all` or store_all), choose,
    pass 2 (encode the chosen), manifest."""
    _, files = listing.list_day(str(mirror), H, DAY)
    plan = plan_day(DAY, files, CS)
    sink = LocalSink(out)
    previous = daymanifest.read(sink, H.node, DAY)
    rerun = plan_rerun(plan, previous, sink.keys(day_prefix(sink.prefix, H.node, DAY)), sink.prefix, H.node, CS, RS,
                       overwrite)
    budget = parse_budget(publish)
    first = frozenset[int]() if not budget.is_all and not store_all else None

    def process(units, render_only, done, score_all=True) -> list[FileResult]:
        return [process_file(u, u.file.url, None, DAY, H.node, sink, CS, RS, done[u.file.name],
                             render_only[u.file.name], score_all) for u in units]

    results = list(rerun.reused.values()) + process(rerun.todo, dict.fromkeys(rerun.done, first), rerun.done)
    choice = choose_day(results, budget, store_all, node=H.node, day=DAY, previous=previous)
    if choice.render:
        scored = {r.name: r for r in results if r.name in choice.render}
        held = {name: frozenset(sid for sid, _, _ in r.clips) for name, r in scored.items()}
        second = process([u for u in plan.units if u.file.name in scored], choice.render, held, score_all=False)
        assert all(set(r.scores) <= choice.render[r.name] for r in second)  # it drew only what it stores
        results = [r for r in results if r.name not in scored] + [with_first_pass(r, scored[r.name]) for r in second]
    record = daymanifest.build(hydrophone=H, day=DAY, source=str(mirror), folder=None, plan=plan, results=results,
                               clip_settings=CS, render_settings=RS, timings={}, reasons=choice.reasons,
                               budget=publish, store="all" if store_all else "published")
    record = json.loads(daymanifest.dumps(record))
    sink.put(day_manifest_key(sink.prefix, H.node, DAY), daymanifest.dumps(record), "application/json")
    record["_columns"] = {k: c for r in results for k, c in r.columns.items()}
    record["_reused"] = len(rerun.reused)
    return record


def stored_clips(out: Path) -> set[str]:
    """Sample IDs of the WAVs under `out` ({node}/{YYYY_MM_DD}/{stem}.wav, as naming.clip_key lays them)."""
    return {f"{p.parent.parent.name}___{p.parent.name}___{p.stem}" for p in out.rglob("*.wav")}


def window_of(record: dict, sid: str) -> int:
    clip = next(c for c in record["clips"] if c["id"] == sid)
    start = dt.datetime.fromisoformat(clip["start"].replace("Z", "+00:00"))
    return int((start - dt.datetime(2019, 1, 12, tzinfo=dt.UTC)).total_seconds()) // CS.clip_seconds


def test_process_file_with_render_only_scores_every_window_and_stores_only_those(mirror, tmp_path):
    _, files = listing.list_day(str(mirror), H, DAY)
    unit = plan_day(DAY, files, CS).units[0]
    chosen = frozenset(list(unit.windows)[3:6])
    r = process_file(unit, unit.file.url, None, DAY, H.node, LocalSink(tmp_path), CS, RS, frozenset(), chosen)
    assert [k for _, k, _ in r.clips] == sorted(chosen) and r.written == 3
    assert {k for k, reason, _ in r.skipped if reason == NOT_STORED} == set(unit.windows) - chosen
    assert set(r.scores) == set(r.columns) == set(unit.windows)  # every window scored, for the choice
    assert len(stored_clips(tmp_path)) == 3


def test_a_top_budget_publishes_exactly_k_mostly_calls_and_stores_only_those(mirror, tmp_path):
    calls, any_call, clicks = call_windows(mirror)
    k = len(calls)
    record = run_day(mirror, tmp_path, f"top:{k}")
    ids = appmanifest.day_ids(record)
    assert len(ids) == k == record["totals"]["published"]
    picked = {window_of(record, sid) for sid in ids}
    scores = {int(w): s for w, s in record["scores"].items() if w in record["published"]}
    assert picked == set(sorted(scores, key=lambda w: (-scores[w], w))[:k])  # the day's K best, whichever file
    assert len(picked & any_call) >= 0.8 * k, (sorted(picked - any_call), sorted(calls - picked))
    assert len(picked & clicks) <= 1
    assert stored_clips(tmp_path) == set(ids)  # store=published: nothing else encoded
    reasons = record["published"]
    assert set(reasons) == set(record["scores"]) - {str(w) for w in _short(record)}
    assert sorted(r for r in reasons.values() if r in PUBLISHED) == ["top"] * k
    day = record["totals"]
    assert day["clip_seconds"] + day["skipped_seconds"] == day["day_seconds"]  # the whole day, still
    assert day["skipped_by_reason"][NOT_STORED] == len(reasons) - k
    png = daymanifest.overview(record, record["_columns"])
    assert png is not None and png.startswith(b"\x89PNG")


def _short(record: dict) -> set[int]:
    return {int(k) for k in record["scores"]} - {int(k) for k in record["published"]}


def test_a_rerun_with_a_larger_budget_keeps_every_published_id_and_reads_no_file_twice(mirror, tmp_path):
    first = run_day(mirror, tmp_path, "top:5")
    before = set(appmanifest.day_ids(first))
    again = run_day(mirror, tmp_path, "top:3+random:4")  # a smaller top: the five stay, as kept or top
    assert before <= set(appmanifest.day_ids(again)) and again["_reused"] == 2
    more = run_day(mirror, tmp_path, "top:12")
    after = set(appmanifest.day_ids(more))
    assert before <= after and len(after) >= 12
    assert stored_clips(tmp_path) == after
    assert {r for r in more["published"].values()} <= {"top", "kept", "random", "below_budget"}


def test_store_all_stores_every_clip_but_publishes_only_the_budget(mirror, tmp_path):
    record = run_day(mirror, tmp_path, "top:4", store_all=True)
    assert len(appmanifest.day_ids(record)) == 4
    assert len(stored_clips(tmp_path)) == record["totals"]["clips"] == len(record["published"])
    assert NOT_STORED not in record["totals"]["skipped_by_reason"]


def test_all_publishes_and_stores_every_clip_in_one_pass_as_before(mirror, tmp_path):
    record = run_day(mirror, tmp_path, "all")
    assert set(appmanifest.day_ids(record)) == stored_clips(tmp_path)
    assert len(stored_clips(tmp_path)) == record["totals"]["clips"] == record["totals"]["published"]
    assert set(record["published"].values()) == {"all"}
    assert all(c["published"] for c in record["clips"])


def test_after_a_top_day_all_stores_the_rest_from_the_manifest_without_losing_scores(mirror, tmp_path):
    first = run_day(mirror, tmp_path, "top:5")
    record = run_day(mirror, tmp_path, "all")
    assert record["_reused"] == 2  # pass 1 read nothing: the scores came from the manifest
    assert record["scores"] == first["scores"]
    assert NOT_STORED not in record["totals"]["skipped_by_reason"]
    assert len(appmanifest.day_ids(record)) == record["totals"]["clips"] == len(stored_clips(tmp_path))


def test_the_overview_follows_the_published_set_whether_or_not_the_files_were_read(mirror, tmp_path):
    """A rerun that read no file (a wider budget) redraws the strip, ticks and title over the stored
    picture's body: the very picture a whole drawing gives. A body drawn from other windows is never kept."""
    first = run_day(mirror, tmp_path, "top:5")
    stored = daymanifest.overview(first, first["_columns"])
    record = run_day(mirror, tmp_path, "all")
    assert record["totals"]["published"] > 5
    assert daymanifest.overview(record, {}) is None  # no column and no picture: nothing to draw from
    redrawn = daymanifest.overview(record, {}, stored=stored)
    assert redrawn is not None and redrawn != stored
    assert redrawn == daymanifest.overview(record, first["_columns"])  # byte for byte
    grown = {**record, "scores": {**record["scores"], "17000": 1.0}}  # a window with data the body lacks
    assert daymanifest.overview(grown, {}, stored=stored) is None


def test_each_budget_that_published_the_day_is_kept_in_its_manifest():
    """The budgets list grows by the budgets that publish, in the order first used; an old record names its one."""
    old = {"publish": {"budget": "top:20+random:5"}, "totals": {"published": 25}}
    assert daymanifest.budgets(old) == ["top:20+random:5"]
    assert daymanifest.budgets({"clips": [{"id": "a"}]}) == ["all"]  # made before budgets
    assert daymanifest.budgets(None) == []
    from whaledr_core.publish import widens

    assert widens(parse_budget("top:20+random:5"), parse_budget("all"))
    assert widens(parse_budget("top:20+random:5"), parse_budget("top:20+random:6"))
    assert not widens(parse_budget("top:20+random:5"), parse_budget("top:10"))
    assert not widens(parse_budget("all"), parse_budget("top:40+random:10"))


def test_a_manifest_from_before_budgets_published_every_clip_it_lists():
    old = {"date": "2019-01-12", "settings": {"clips": {"clip_seconds": 5}},
           "clips": [{"id": "a", "start": "2019-01-12T00:00:10Z"}, {"id": "b", "start": "2019-01-12T00:01:00Z"}]}
    assert daymanifest.published_windows(old) == {2, 12}
    assert appmanifest.day_ids(old) == ["a", "b"]


def test_a_budget_is_read_in_its_plain_spelling_and_a_bad_one_costs_one_line():
    from flows.params import Selection

    assert Selection(publish=" top:300+random:60 ").budget() == parse_budget("top:300+random:60")
    assert Selection(publish="top:5").two_passes and not Selection(publish="top:5", store="all").two_passes
    from conftest import run_cli

    r = run_cli("run", "2019-01-12", "--publish", "top:3+rand:1")
    assert r.returncode == 2 and "--publish" in r.stderr and "'top:3+rand:1' not understood" in r.stderr


def test_floor_contrast_paints_sea_noise_dark_and_even_and_a_call_bright(mirror, tmp_path):
    """`--contrast floor` (db_policy "floor"): noise sits near the bottom of the colour map, where the
    default percentile contrast spreads it over the whole map; a call stands out above it."""
    import numpy as np
    from PIL import Image

    evs = events.loads(ground_truth_path(mirror, H, DAY).read_bytes())
    busy = {k for e in evs for k in e.windows(CS.clip_seconds, 0.0)}
    calls, _, _ = call_windows(mirror)
    _, files = listing.list_day(str(mirror), H, DAY)
    unit = plan_day(DAY, files, CS).units[0]
    quiet = next(k for k in unit.windows if k not in busy and k - 1 not in busy and k + 1 not in busy)
    call = min(calls & set(unit.windows))
    looks = {}
    for policy in ("percentile", "floor"):
        rs = RenderSettings(axes=False, image_format="png", db_policy=policy)  # full size: contours stay thin
        out = tmp_path / policy
        process_file(unit, unit.file.url, None, DAY, H.node, LocalSink(out), CS, rs, frozenset(),
                     frozenset({quiet, call}))
        pngs = {int(p.stem.rsplit("T", 1)[1].replace("_", "")): p for p in out.rglob("*.png")}
        by_window = {(3600 * (t // 10000) + 60 * (t // 100 % 100) + t % 100) // 5: p for t, p in pngs.items()}
        looks[policy] = {k: np.asarray(Image.open(p).convert("L"), float) for k, p in by_window.items()}
    noise_pct, noise_floor = looks["percentile"][quiet], looks["floor"][quiet]
    assert noise_floor.mean() < noise_pct.mean() - 20  # darker
    assert noise_floor.std() < noise_pct.std()  # and more even
    # a 10 dB call is a thin contour in a 0-4 kHz picture: its brightest pixels, not its mean, show it
    assert np.percentile(looks["floor"][call], 99.9) > np.percentile(noise_floor, 99.9) + 10


def test_contrast_floor_is_refused_with_a_fixed_range_and_unknown_contrasts_cost_one_line():
    from conftest import run_cli

    r = run_cli("run", "2019-01-12", "--contrast", "floor", "--db-range", "40,90")
    assert r.returncode == 2 and "drop --db-range" in r.stderr
    r = run_cli("run", "2019-01-12", "--contrast", "pastel")
    assert r.returncode == 2 and "--contrast takes clip or floor" in r.stderr
