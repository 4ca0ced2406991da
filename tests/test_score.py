"""The call score: calls stand out; gain, tones, floor changes and clicks do not; every window with data is scored."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from whaledr_core import daymanifest, listing
from whaledr_core import events as ev
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, Skip, plan_day
from whaledr_core.fileclips import process_file
from whaledr_core.overview import overview_png
from whaledr_core.render import RenderSettings, spectrogram_db
from whaledr_core.score import call_score, file_floor, floor_levels
from whaledr_core.sinks import LocalSink

from conftest import DAY, RATE, mseed_name, write_mseed

RS = RenderSettings(axes=False)
CLIP = 5
SECONDS = 120


def stretch(events: list[ev.Event], seed: int = 1, gain: float = 1.0) -> np.ndarray:
    """Two minutes of sea noise from midnight with `events` in it, as counts."""
    x = ev.sea_noise(SECONDS * RATE, np.random.default_rng(seed))
    for e in sorted(events, key=lambda e: e.is_call):
        ev.add(x, 0.0, e, RS, RATE)
    return np.round(x * gain).astype(np.int32)


def scores(x: np.ndarray) -> list[float]:
    floor = file_floor([(0, x)], RS, RATE)
    return [
        call_score(spectrogram_db(x[k * CLIP * RATE : (k + 1) * CLIP * RATE], RS, RATE), floor.at((k + 0.5) * CLIP),
                   RS, RATE)
        for k in range(SECONDS // CLIP)
    ]


CALLS = [ev.Event("fin", 11.0, 1.0, 10.0), ev.Event("humpback", 51.5, 1.5, 10.0, seed=3),
         ev.Event("blue", 80.5, 4.0, 10.0)]
CALL_WINDOWS = {2, 10, 16}


def test_calls_score_above_every_window_of_noise():
    s = scores(stretch(CALLS))
    noise = [v for k, v in enumerate(s) if k not in CALL_WINDOWS]
    assert min(s[k] for k in CALL_WINDOWS) > max(noise)
    assert min(s[k] for k in CALL_WINDOWS) > 5  # in noise spreads: well clear, not by a hair


def test_the_score_does_not_change_with_the_recordings_gain():
    a = scores(stretch(CALLS, gain=0.05))
    b = scores(stretch(CALLS, gain=20.0))
    np.testing.assert_allclose(a, b, atol=0.05)


def test_a_call_that_fills_a_whole_window_and_a_pulse_train_score():
    # a 10 s blue whale call covers window 8 (40-45 s) from end to end: a rule that takes off what holds
    # through the clip would call it a ship's line; a minke train of 0.12 s pulses is diluted by any long pooling
    blue = ev.Event("blue", 38.5, 10.0, 8.0)
    minke = ev.Event("minke", 90.7, 3.5, 10.0, seed=2)
    s = scores(stretch([blue, minke]))
    calls = {7, 8, 9, 18}
    noise = [v for k, v in enumerate(s) if k not in calls]
    assert s[8] > max(noise) and s[18] > max(noise)
    assert min(s[8], s[18]) > 5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_minke_train_6_db_over_a_clean_sea_scores_above_every_window_of_noise(seed):
    # the train's pulses (0.12 s each, 0.35 s apart) are each a few frames by a few bins: a detector that
    # averages a 200 Hz band over 64 ms dilutes them into the noise (it scored 1.9-3 here, noise windows up to ~4)
    minke = ev.Event("minke", 50.7, 3.5, 6.0, seed=seed)
    s = scores(stretch([minke], seed=seed))
    assert s[10] > max(v for k, v in enumerate(s) if k not in (10, 11)) + 1


@pytest.mark.parametrize("start", [SECONDS - 8.0, -50.0])
def test_a_hum_that_starts_or_stops_near_the_files_edge_does_not_score(start):
    # switched on 8 s before the file ends, or off 10 s after it starts: no minute on either side holds it,
    # nor the 40 s around; it scored like the loudest call (50-300)
    hum = ev.Event("hum", start, 60.0, 12.0)
    quiet = scores(stretch([]))
    assert max(scores(stretch([hum]))) < max(quiet) + 2


@pytest.mark.parametrize("distractor", [
    ev.Event("hum", 0.0, SECONDS, 15.0),
    ev.Event("ship", -540.0, 1200.0, 20.0, seed=5),  # a 20-minute passage, closest in these two minutes
    ev.Event("floor", 10.0, 100.0, 10.0),
])
def test_lasting_tones_and_slow_floor_changes_do_not_score(distractor):
    quiet = scores(stretch([]))
    with_it = scores(stretch([distractor]))
    assert max(with_it) < max(quiet) + 2
    assert max(with_it) < min(scores(stretch(CALLS))[k] for k in CALL_WINDOWS)


def test_a_loud_click_does_not_score_while_a_call_does():
    clicks = [ev.Event("click", 5.0 * k + 2.5, 0.01, 40.0, seed=k) for k in range(SECONDS // CLIP)]
    with_clicks = scores(stretch(clicks))
    assert max(with_clicks) < min(scores(stretch(CALLS))[k] for k in CALL_WINDOWS)
    both = scores(stretch(clicks + CALLS))
    assert min(both[k] for k in CALL_WINDOWS) > max(v for k, v in enumerate(both) if k not in CALL_WINDOWS)


def test_floor_rows_match_the_spectrogram_and_other_settings_are_refused():
    x = stretch([])
    floor = file_floor([(0, x)], RS, RATE)
    db = spectrogram_db(x[: CLIP * RATE], RS, RATE)
    assert floor.rows.shape[1] == db.shape[0]
    # the floor is the typical level of each row: about half of a noise clip's cells lie above it
    above = (db > floor.at(2.5)[:, None]).mean()
    assert 0.4 < above < 0.6
    with pytest.raises(ValueError, match="rows"):
        other = dataclasses.replace(RS, fmax=2000.0)
        call_score(spectrogram_db(x[: CLIP * RATE], other, RATE), floor.at(2.5), RS, RATE)
    with pytest.raises(ValueError, match="no segment"):
        file_floor([(0, x[:100])], RS, RATE)


def test_floor_contrast_shows_noise_evenly_and_a_call_bright():
    x = stretch(CALLS)
    floor = file_floor([(0, x)], RS, RATE)
    noise = floor_levels(spectrogram_db(x[: CLIP * RATE], RS, RATE), floor.at(2.5))
    call = floor_levels(spectrogram_db(x[80 * RATE : 85 * RATE], RS, RATE), floor.at(82.5))
    # a red sea is no brighter at low frequencies than high once its floor is gone
    assert abs(float(noise[-40:].mean()) - float(noise[:40].mean())) < 10
    assert call.max() > 150 and np.percentile(call, 99.9) > np.percentile(noise, 99.9) + 30


# --- the pipeline records a score for every window with data ----------------------------------------------


def test_every_window_with_data_gets_a_score_in_the_file_result_and_the_day_manifest(tmp_path):
    cs = ClipSettings(file_seconds=60)
    h = get_hydrophone("LJ01D")
    t0 = dt.datetime(2019, 1, 12, 3, 0, 0, 15, tzinfo=dt.UTC)
    x = stretch([ev.Event("fin", 21.0, 1.0, 12.0)])[: 60 * RATE]
    x = x[: 60 * RATE - 2 * RATE]  # the file ends 2 s early: its last window is short
    path = write_mseed(tmp_path / mseed_name(t0), t0, x)
    codes, start = listing.parse_name(path.name)
    plan = plan_day(DAY, [listing.RawFile(str(path), path.name, start, path.stat().st_size, True, codes)], cs)
    sink = LocalSink(tmp_path / "out")
    (unit,) = plan.units
    r = process_file(unit, str(path), None, DAY, h.node, sink, cs, RS)
    first = unit.first_window
    clip_windows = {k for _, k, _ in r.clips}
    short = {k for k, reason, _ in r.skipped if reason == Skip.SHORT}
    assert len(clip_windows) == 11 and short == {first + 11}
    assert set(r.scores) == clip_windows | short == set(r.columns)
    best = max(r.scores, key=r.scores.__getitem__)
    assert best == first + 4  # the fin call at 03:00:21
    # the columns the worker kept draw the day overview
    png = overview_png({k: c.astype(np.float32) for k, c in r.columns.items()}, r.scores, {best},
                       windows_per_day=cs.windows_per_day)
    assert png.startswith(b"\x89PNG")
    m = daymanifest.build(hydrophone=h, day=DAY, source=str(tmp_path), folder=None, plan=plan, results=[r],
                       clip_settings=cs, render_settings=RS, timings={})
    assert daymanifest.scores(daymanifest.loads(daymanifest.dumps(m))) == r.scores
    assert "scores" not in m["files"][0]
    # a rerun takes the file's scores from the manifest without reading it
    stored = set(sink.keys("").keys())
    ids = {c["id"] for c in m["clips"]}
    again = daymanifest.reusable(daymanifest.loads(daymanifest.dumps(m)), plan, cs, RS, ids)
    assert stored and again[unit.file.name].scores == r.scores
    # already-stored clips are scored too
    redo = process_file(unit, str(path), None, DAY, h.node, sink, cs, RS, done=frozenset(ids))
    assert redo.present == 11 and redo.scores == r.scores


def test_a_manifest_without_scores_is_not_reused(tmp_path):
    cs = ClipSettings(file_seconds=20)
    t0 = dt.datetime(2019, 1, 12, 3, 0, 0, 15, tzinfo=dt.UTC)
    path = write_mseed(tmp_path / mseed_name(t0), t0, stretch([])[: 20 * RATE])
    codes, start = listing.parse_name(path.name)
    plan = plan_day(DAY, [listing.RawFile(str(path), path.name, start, path.stat().st_size, True, codes)], cs)
    h = get_hydrophone("LJ01D")
    r = process_file(plan.units[0], str(path), None, DAY, h.node, LocalSink(tmp_path / "o"), cs, RS)
    m = daymanifest.loads(daymanifest.dumps(daymanifest.build(hydrophone=h, day=DAY, source="", folder=None, plan=plan,
                                                     results=[r], clip_settings=cs, render_settings=RS, timings={})))
    ids = {c["id"] for c in m["clips"]}
    assert daymanifest.reusable(m, plan, cs, RS, ids)
    del m["scores"]  # a day made before scores were recorded
    assert daymanifest.reusable(m, plan, cs, RS, ids) == {}
