"""The call score: calls stand out; gain, tones, floor changes, clicks, knocks and airguns do not; a detector that
fires all over a file loses its weight there; every window with data is scored."""

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
from whaledr_core.render import RenderSettings, preset_settings, spectrogram_db
from whaledr_core.score import (
    DETECTORS,
    KNEE,
    clip_responses,
    file_detector_scores,
    file_floor,
    file_scores,
    floor_levels,
)
from whaledr_core.sinks import LocalSink

from conftest import DAY, RATE, mseed_name, write_mseed

RS = RenderSettings(axes=False)
LOW = preset_settings("low", axes=False)
CLIP = 5
SECONDS = 120


def stretch(events: list[ev.Event], seed: int = 1, gain: float = 1.0, seconds: int = SECONDS) -> np.ndarray:
    """Sea noise from midnight with `events` in it (lasting distractors, then calls, then transients), as counts."""
    x = ev.sea_noise(seconds * RATE, np.random.default_rng(seed))
    order = {"floor": 0, **dict.fromkeys(ev.TONAL, 1), **dict.fromkeys(ev.CALLS, 2)}
    for e in sorted(events, key=lambda e: order.get(e.kind, 3)):
        ev.add(x, 0.0, e, RS, RATE)
    return np.round(x * gain).astype(np.int32)


def responses(x: np.ndarray, rs: RenderSettings = RS) -> dict[int, np.ndarray]:
    """Each window's detector values, as a worker makes them for the file."""
    floor = file_floor([(0, x)], rs, RATE)
    return {k: clip_responses(spectrogram_db(x[k * CLIP * RATE : (k + 1) * CLIP * RATE], rs, RATE),
                              floor.at((k + 0.5) * CLIP), rs, RATE)
            for k in range(len(x) // (CLIP * RATE))}


def scores(x: np.ndarray, rs: RenderSettings = RS) -> list[float]:
    """The file's scores, window by window."""
    s = file_scores(responses(x, rs))
    return [s[k] for k in range(len(s))]


CALLS = [ev.Event("upcall", 11.2, 1.0, 10.0, seed=1), ev.Event("humpback", 51.5, 1.5, 10.0, seed=3),
         ev.Event("blue_a", 80.5, 9.0, 10.0, seed=2)]
CALL_WINDOWS = {2, 10, 16, 17}


def test_calls_score_above_every_window_of_noise():
    s = scores(stretch(CALLS))
    noise = [v for k, v in enumerate(s) if k not in CALL_WINDOWS]
    assert min(s[k] for k in CALL_WINDOWS) > max(noise)
    assert min(s[k] for k in CALL_WINDOWS) > max(noise) + 1  # well clear, not by a hair


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
    assert min(s[8], s[18]) > max(noise) + 1  # well clear, not by a hair


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_minke_train_8_db_over_a_clean_sea_scores_above_every_window_of_noise(seed):
    """A regular train of short pulses is a call: a detector that averages a 200 Hz band over 64 ms dilutes its
    0.12 s pulses into the noise, and one that counts pulses without their rhythm takes knocks for trains. At
    6 dB a train is at the level of noise windows (the pulse detector is scaled on a real sea's thumps,
    score.REAL_SPREAD); from 8 dB it stands clear."""
    minke = ev.Event("minke", 50.7, 3.5, 8.0, seed=seed)
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


def test_knocks_throughout_a_file_do_not_take_its_top_windows_and_the_calls_among_them_do():
    """Issue 20's cabled-observatory day: irregular 10-50 ms knocks in 100-300 Hz throughout, as the wind-and-waves
    clips of the shared real set have them, took every top window (the pulse-train detector fired on them). Now
    the calls among them (a right whale upcall, a humpback unit, a blue whale A call) are the file's best windows."""
    knocks = ev.Event("knocks", 0.0, 300.0, 15.0, seed=4)
    calls = [ev.Event("upcall", 41.2, 1.0, 8.0, seed=5), ev.Event("humpback", 151.5, 1.5, 8.0, seed=3),
             ev.Event("blue_a", 240.5, 18.0, 8.0, seed=6)]
    s = scores(stretch([knocks, *calls], seed=4, seconds=300))
    quiet = scores(stretch([knocks], seed=4, seconds=300))
    held = {k for e in calls for k in e.windows(CLIP, 2.0 if e.kind == "blue_a" else 0.5)}
    around = {k for e in calls for k in e.windows(CLIP, 0.0)}
    noise = max(v for k, v in enumerate(s) if k not in around)
    assert all(s[k] > noise for k in held), (sorted((k, s[k]) for k in held), noise)
    assert max(quiet) < min(s[k] for k in held)  # the knocks alone give less than any call among them


def test_a_right_whale_upcall_slower_than_the_humpback_contours_scores():
    """A right whale upcall rises at ~100-200 Hz/s for about a second (slower than the 250-1,000 Hz/s contours
    made for humpback units): at 6 dB over a clean sea it stands above every window of noise."""
    for seed, slope in ((1, 90.0), (2, 150.0)):
        up = ev.Event("upcall", 61.2, 1.0, 6.0, seed=seed)
        s = scores(stretch([up], seed=seed))
        assert s[12] > max(v for k, v in enumerate(s) if k not in (12, 13)) + 1, (slope, s[12])


def test_a_detector_that_fires_in_most_windows_of_a_file_loses_its_weight_there():
    """The file's own windows set each detector's scale: one that fires everywhere (knocks, a rattle) adds
    nothing there, and the window where another fires alone tops the file; a short file leans on white noise."""
    rng = np.random.default_rng(3)
    u = rng.standard_normal((60, len(DETECTORS)))
    everywhere, once = DETECTORS.index("pulses_1s"), DETECTORS.index("upcall_120")
    u[:, everywhere] += 40.0 + 10 * rng.standard_normal(60)  # fires in every window (knocks throughout)
    u[17, once] += 12.0  # another fires once
    s = file_scores(dict(enumerate(u)))
    assert max(s, key=s.__getitem__) == 17
    assert sorted(s.values())[-2] < 5 < s[17]
    short = file_scores({0: u[0], 1: u[1]})  # two windows: white noise's scale, not theirs
    assert all(np.isfinite(v) for v in short.values()) and max(short.values()) > 5


def test_a_fin_whale_series_is_its_files_background_and_a_call_among_it_stands_out():
    """Fin whales call in series, a 20 Hz pulse every 7-40 s for hours: in a file with one every 12 s they are
    the background (the infrasonic detectors' spread is read from their 90th percentile), and an upcall among
    them tops the file; a fin pulse alone stands out, at the default settings and the low preset alike."""
    series = [ev.Event("fin", 12.0 * i + 3.3, 1.0, 15.0, seed=i) for i in range(25)]
    up = ev.Event("upcall", 151.2, 1.0, 8.0, seed=3)
    s = scores(stretch([*series, up], seed=5, seconds=300))
    assert max(range(len(s)), key=s.__getitem__) == 30
    for rs in (RS, LOW):
        alone = scores(stretch([ev.Event("fin", 41.0, 1.0, 8.0)], seed=2), rs)
        assert alone[8] > max(v for k, v in enumerate(alone) if k != 8) + 1, rs


@pytest.mark.parametrize("name", ["infra_1s", "box_0.5s", "box_1s", "box_2s"])
def test_a_box_that_fires_in_a_tenth_of_a_files_windows_is_its_background_and_alone_stands_out(name):
    """The low-frequency calls the boxes look for come in series (fin pulses every 7-40 s, blue whale song a
    phrase every minute or two): a box that stands 10 spreads up in 9 of a file's 60 windows (under the quarter
    the quartiles see) is that file's background, read from its 90th percentile; the same value in one window
    alone stands out. An upcall detector keeps its bout (right whales call in bouts)."""
    u = np.random.default_rng(7).normal(0.0, 1.0, (60, len(DETECTORS)))
    i = DETECTORS.index(name)
    series, lone = u.copy(), u.copy()
    series[::7, i] += 10.0
    lone[0, i] += 10.0
    assert file_detector_scores(series)[0, i] < 2 < KNEE < file_detector_scores(lone)[0, i]
    j = DETECTORS.index("upcall_200")
    bout = u.copy()
    bout[::7, j] += 10.0
    assert file_detector_scores(bout)[0, j] > KNEE


def test_airgun_pulses_do_not_outrank_a_call():
    """A seismic survey's pulses every 10-15 s (an impulse, then ~1 s of reverberation below 1 kHz, as the
    shared set's explosion and seal bombs) lift whole bands: a call among them still tops the file."""
    airgun = ev.Event("airgun", 0.0, SECONDS, 25.0, seed=2)
    up = ev.Event("upcall", 71.2, 1.0, 8.0, seed=3)
    s = scores(stretch([airgun, up], seed=3))
    assert max(range(len(s)), key=s.__getitem__) == 14


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
        clip_responses(spectrogram_db(x[: CLIP * RATE], other, RATE), floor.at(2.5), RS, RATE)
    with pytest.raises(ValueError, match="no segment"):
        file_floor([(0, x[:100])], RS, RATE)


def test_floor_contrast_shows_noise_evenly_and_a_call_bright():
    x = stretch([ev.Event("blue", 80.5, 4.0, 10.0)])
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
    # the fin call's detectors stand out, with when: the day's look at what recurs reads them from the manifest
    assert set(r.peaks) <= set(r.scores) and best in r.peaks
    assert all(best * CLIP <= t <= (best + 1) * CLIP for _, t in r.peaks[best].found.values())  # seconds since midnight
    assert daymanifest.peaks(daymanifest.loads(daymanifest.dumps(m))) == r.peaks and m["recurring"] == {}
    # a rerun takes the file's scores from the manifest without reading it
    stored = set(sink.keys("").keys())
    ids = {c["id"] for c in m["clips"]}
    again = daymanifest.reusable(daymanifest.loads(daymanifest.dumps(m)), plan, cs, RS, ids)
    assert stored and again[unit.file.name].scores == r.scores and again[unit.file.name].peaks == r.peaks
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


# --- on real recordings (../shared/realdata, kept out of the repository) ----------------------------------


def test_real_right_whale_upcalls_outrank_real_thumps_and_a_real_seal_bomb():
    """Real sounds, as bench/real.py sets them at their recorded level into a real background: the SanctSound
    right whale clip GR01_01 (one upcall) tops two minutes of the CI02_03 wind clip, with its regular low
    thumps throughout, and of a real seal bomb (CI05_02) in it too."""
    from bench import real

    root = real.default_realdata()
    if not (root / "sanctsound").is_dir():
        pytest.skip(f"the shared real recordings are not at {root} (set WHALEDR_REALDATA)")
    rng = np.random.default_rng(7)
    bg, bg_rate = real.load(root, real.BACKGROUNDS["wind"])
    floor = real.floor_level(bg, bg_rate)
    x = real.chain(bg, SECONDS, rng)
    placed = {}
    for name, at in (("sanctsound/SanctSound_GR01_01_northatlanticrightwhale_20181227T060148Z", 40.0),
                     ("sanctsound/SanctSound_CI05_02_sealbomb_20190405T110516Z", 80.0)):
        y, own = real.load(root, name)
        a = int(at * RATE)
        x[a : a + len(y)] += y * np.sqrt(floor / real.floor_level(y, own))
        placed[name] = set(range(int(at // CLIP), int((at + len(y) / RATE) // CLIP) + 1))
    s = scores(np.round(x * 1e4 / np.std(x)).astype(np.int32))
    best = max(range(len(s)), key=s.__getitem__)
    assert best in placed["sanctsound/SanctSound_GR01_01_northatlanticrightwhale_20181227T060148Z"], (best, s)
