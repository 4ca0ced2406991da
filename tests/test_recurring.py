"""The day's look at sounds a machine repeats: a pinger every few minutes is taken out of the ranking, calls
and sounds that come at random or at an animal's wandering intervals are not; the day's choice and the day
manifest use it."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np

from whaledr_core import daymanifest, publish
from whaledr_core import events as ev
from whaledr_core.fileclips import FileResult
from whaledr_core.recurring import discount, periodic
from whaledr_core.render import RenderSettings, spectrogram_db
from whaledr_core.rerun import choose_day
from whaledr_core.score import Peaks, clip_peaks, file_floor, file_peaks, file_scores

RS = RenderSettings(axes=False)
RATE = 64_000
CLIP = 5


def test_a_pinger_at_a_fixed_period_is_found_among_calls_and_an_animals_series():
    """NOPP6's pinger (every 180.2 s, steps within 0.1 s, its times read to ~0.1 s) is found in a day of other
    peaks: calls at random (one every ~3 minutes on average) and a fin whale-like series every 35 s whose
    intervals wander by a few seconds; none of those is taken for it."""
    rng = np.random.default_rng(7)
    pings = 155.1 + 180.2 * np.arange(40) + rng.uniform(-0.1, 0.1, 40)
    calls = np.sort(rng.uniform(0, 7200, 40))
    series = 3000 + np.cumsum(rng.uniform(31, 39, 60))
    t = np.concatenate([pings, calls, series])
    order = np.argsort(t)
    hit = np.empty(len(t), dtype=bool)
    hit[order] = periodic(t[order])
    assert hit[:40].all()
    assert not hit[40:].any()
    # three pings are not yet a chain; four are
    assert not periodic(pings[:3]).any() and periodic(pings[:4]).all()
    # a ping lost now and then (a window without data) does not break the chain
    assert periodic(np.delete(pings[:6], 2)).all()


def chirp(seconds: float, f0: float = 380.0, f1: float = 680.0) -> np.ndarray:
    """A pinger's chirp as NOPP6's (380 -> 680 Hz in 0.8 s), Hann-tapered."""
    t = np.arange(int(seconds * RATE)) / RATE
    return np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))) * np.hanning(len(t))


def test_a_call_outranks_a_pinger_that_outranks_it_in_its_file():
    """Five minutes of sea with a chirp every 40.3 s (an echosounder's, louder than the call) and one right
    whale upcall: on its file's scale a ping tops the file; the day's look finds the pings' period, takes them out
    and the upcall tops the day; the ping windows keep only what else they hold."""
    x = ev.sea_noise(300 * RATE, np.random.default_rng(3))
    level = 3.0 * np.std(x)
    pings = [12.31 + 40.3 * i for i in range(7)]
    for p in pings:
        a = int(p * RATE)
        x[a : a + int(0.8 * RATE)] += level * chirp(0.8)
    ev.add(x, 0.0, ev.Event("upcall", 181.2, 1.0, 8.0, seed=2), RS, RATE)
    floor = file_floor([(0, x)], RS, RATE)
    values, seconds = {}, {}
    for k in range(60):
        db = spectrogram_db(x[k * CLIP * RATE : (k + 1) * CLIP * RATE], RS, RATE)
        values[k], s = clip_peaks(db, floor.at((k + 0.5) * CLIP), RS, RATE)
        seconds[k] = s + k * CLIP
    scores, peaks = file_scores(values), file_peaks(values, seconds)
    ping_windows = {int(p // CLIP) for p in pings}
    call = 36
    assert max(scores[k] for k in ping_windows) > scores[call]
    day, found = discount(scores, peaks)
    assert set(found) == ping_windows
    assert max(day, key=day.__getitem__) == call and day[call] == scores[call]
    assert all(day[k] < scores[call] for k in ping_windows)
    assert all(day[k] == scores[k] for k in day if k not in ping_windows)


def result(name: str, first: int, scores: dict[int, float], peaks: dict[int, Peaks]) -> FileResult:
    """A file's first-pass result as a worker returns it for a top budget: every window scored, none stored."""
    r = FileResult(name, name, None, first, first + 60, scores=scores, peaks=peaks)
    r.skipped = [(k, "not_stored", 1.0) for k in range(first, first + 60)]
    return r


def test_the_days_choice_and_manifest_leave_out_what_recurs_across_files():
    """A sound at a fixed period in four files of a day, each the best of its file, loses the day's top
    budget to a weaker call that comes once; the day manifest says which windows recurred and keeps the
    peaks, so a rerun that reuses the files ranks the same."""
    results = []
    for f in range(4):
        first = 60 * f
        scores = {k: 1.0 for k in range(first, first + 60)}
        k_ping = first + 7
        scores[k_ping] = 12.0
        peaks = {k_ping: Peaks({"contour_+500": (12.0, 300.0 * f + 7 * CLIP + 1.25)}, 2.0)}
        if f == 2:
            scores[first + 30] = 8.0
            peaks[first + 30] = Peaks({"upcall_120": (8.0, (first + 30) * CLIP + 2.0)}, 1.5)
        results.append(result(f"f{f}", first, scores, peaks))
    choice = choose_day(results, publish.Budget(1), False, node="LJ01D", day=dt.date(2019, 1, 12), previous=None)
    assert [k for k, why in choice.reasons.items() if why == publish.TOP] == [150]
    # the file scores alone would have published a ping
    assert publish.published(publish.choose({k: s for r in results for k, s in r.scores.items()}, publish.Budget(1),
                                            node="LJ01D", day=dt.date(2019, 1, 12))) == [7]
    assert discount({k: s for r in results for k, s in r.scores.items()},
                    {k: p for r in results for k, p in r.peaks.items()})[1] == {
        k: ["contour_+500"] for k in (7, 67, 127, 187)}
    record = {"peaks": {str(k): daymanifest.peaks_record(p) for r in results for k, p in r.peaks.items()}}
    assert daymanifest.peaks(json.loads(json.dumps(record))) == {
        k: p for r in results for k, p in r.peaks.items()}
