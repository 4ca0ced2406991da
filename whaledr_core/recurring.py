"""Sounds a machine repeats at a fixed period: found across a day's files and taken out of its ranking.

Why. A pinger, an echosounder or a mooring's release transponder sends the same sound at the same interval
all day: the shared right whale recording (PAMGuard's NOPP6_EST_20090329_121500, DCLDE 2013 data) holds a chirp
from 380 to 680 Hz every 180.2 s (155.1, 335.3, 515.5, 695.8, 876.0 s; steps within 0.1 s of each other), with
a tone of a few seconds near 70 Hz. To every detector of `score` such a chirp is a call (a humpback unit's
contour), and it comes too seldom for a file's calibration to see it (one window in 36), so it outranked the
fainter upcalls. Calls do not keep time like that: fin whales pulse every 7-40 s with intervals that wander by
seconds (Watkins 1987), blue whales repeat their calls every one to two minutes give or take several seconds,
humpback song repeats themes, not instants. So a detector's peaks (`score.Peaks`) that fall on a chain of
CHAIN or more at one period of PERIOD_SECONDS, each step within TOLERANCE_SECONDS of the one before, are the
machine's; the window keeps the best of its other detectors (a call that happens to share a window with a ping
still counts).

The look is day-wide: it runs where the day chooses its clips (`rerun.choose_day`), on what each file's first
pass kept of its peaks; the day manifest records both, so a rerun that reuses files sees the same day.

Chance: a detector's peaks are at most a quarter of a file's windows (its calibration sees to that), so
a chain of four within 0.15 s at one of the periods a peak's neighbours offer happens to a few in a
thousand of them on a busy day: a small loss, against a ping that fills the top of every day.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .score import Peaks

PERIOD_SECONDS = (10.0, 1800.0)
"""Periods looked for: from above a humpback song unit's repetition (a few seconds, the rhythm of a phrase) and
a minke train's (within a window) to half an hour (a day then holds 48 steps). A sonar pinging every 4 s is
seen at two or three of its periods. The infrasonic detectors are left out (`LOOKED_AT`): fin whales pulse every
7-40 s in series that keep time well for minutes (Watkins 1987), and their files' calibration already takes a
series for background."""
LOOKED_AT = ("box_", "pulses_", "contour_", "upcall_", "tone", "pulsed_tone")
"""The detectors whose peaks are looked at (by name prefix): all but the infrasonic boxes."""
TOLERANCE_SECONDS = 0.25
"""How far a step may differ from the chain's period: a machine's stay within 0.1 s (NOPP6's pinger: 180.18-180.27 s),
but a detector's time for it is read to a 64 ms pooled column and wanders along a sound longer than its shape (the
humpback contours found NOPP6's pings at steps of 180.06-180.39 s); an animal's intervals wander by seconds."""
SAME_SOUND_SECONDS = 3.0
"""A window's other peaks within this of a recurring one are the same sound (a ping wakes several detectors, not
all of which keep its time as well, and NOPP6's pinger sounds a tone near 70 Hz 1-3 s after its chirp); the
window keeps the peaks farther away (a call beside the ping: NOPP6's upcall 3.6 s after the ping at 695.8 s)."""
CHAIN = 4
"""Peaks on one chain before it counts, at least: three equal steps (more where peaks are dense, `CHANCE`)."""
MISSING = 1
"""Steps a chain may skip between two of its peaks (a ping in a window without data, or under a louder sound)."""
CHANCE = 0.01
"""How many chains of peaks that come at random a day may hold: a chain must be long enough that, were its detector's
peaks as many but at random times, the day would hold fewer than this many chains as long. Each pair of peaks
(at a period in range) starts a chain, and each step finds a peak within its tolerance (twice it, after a skip) by
chance with a probability of about (1 + MISSING) * 2 * TOLERANCE_SECONDS * peaks a second; so a detector with 10
peaks in half an hour needs a chain of 4, one with 140 in two hours (a busy detector) a chain of 6."""


def periodic(times: np.ndarray) -> np.ndarray:
    """Which of `times` (seconds, ascending) lie on a chain of at least CHAIN at one period (PERIOD_SECONDS),
    each step within TOLERANCE_SECONDS of the chain's period, with at most MISSING steps missed in a row."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    member = np.zeros(n, dtype=bool)
    if n < CHAIN:
        return member
    lo, hi = PERIOD_SECONDS
    need = _needed(t)
    for i in range(n - CHAIN + 1):
        a, b = np.searchsorted(t, [t[i] + lo, t[i] + hi + TOLERANCE_SECONDS])
        if b <= a:
            continue
        js = np.arange(a, b)
        period = t[js] - t[i]
        # a third peak one or two periods after the second: only such pairs are followed further
        third = np.zeros(len(js), dtype=bool)
        for steps in range(1, MISSING + 2):
            third |= _near(t, t[js] + steps * period, steps * TOLERANCE_SECONDS)
        for j in js[third]:
            chain = _follow(t, i, int(j))
            if len(chain) >= need:
                member[chain] = True
    return member


def _needed(t: np.ndarray) -> int:
    """The length a chain must reach among peaks at times `t` (ascending): see CHANCE."""
    lo, hi = PERIOD_SECONDS
    pairs = float(np.sum(np.searchsorted(t, t + hi) - np.searchsorted(t, t + lo)))
    rate = len(t) / max(t[-1] - t[0], hi)
    step = min(1.0, (1 + MISSING) * 2 * TOLERANCE_SECONDS * rate)
    need = CHAIN
    while need < len(t) and pairs * step ** (need - 2) > CHANCE:
        need += 1
    return need


def _near(t: np.ndarray, targets: np.ndarray, tol: float | np.ndarray) -> np.ndarray:
    """Whether some time of `t` lies within `tol` of each target."""
    k = np.clip(np.searchsorted(t, targets), 1, len(t) - 1)
    return np.minimum(np.abs(t[k] - targets), np.abs(t[k - 1] - targets)) <= tol


def _follow(t: np.ndarray, i: int, j: int) -> list[int]:
    """The chain that starts with peaks i and j: each next peak within TOLERANCE_SECONDS of one period (the mean
    step so far) after the last, skipping at most MISSING steps in a row."""
    chain, steps = [i, j], 1
    period = t[j] - t[i]
    last = t[j]
    while True:
        for skip in range(1, MISSING + 2):
            target = last + skip * period
            k = int(np.clip(np.searchsorted(t, target), 1, len(t) - 1))
            k = k if abs(t[k] - target) <= abs(t[k - 1] - target) else k - 1
            if abs(t[k] - target) <= TOLERANCE_SECONDS * skip and k > chain[-1]:
                chain.append(k)
                steps += skip
                last = t[k]
                period = (last - t[chain[0]]) / steps
                break
        else:
            return chain


def discount(scores: Mapping[int, float],
             peaks: Mapping[int, Peaks]) -> tuple[dict[int, float], dict[int, list[str]]]:
    """The day's scores with each window's recurring peaks taken out, and which detectors recurred where.

    `scores` are the windows' call scores (`score.file_scores`), `peaks` their `score.Peaks` (window index ->
    peaks). A window whose best detectors all recur scores the best of the rest; a window with no recurring
    peak keeps its score.
    """
    by_detector: dict[str, list[tuple[float, int]]] = {}
    for k, p in peaks.items():
        for name, (_, when) in p.found.items():
            if name.startswith(LOOKED_AT):
                by_detector.setdefault(name, []).append((when, k))
    times: dict[int, list[float]] = {}  # window -> the times of its recurring peaks
    for events in by_detector.values():
        events.sort()
        hit = periodic(np.array([e[0] for e in events]))
        for (t, k), h in zip(events, hit, strict=True):
            if h:
                times.setdefault(k, []).append(t)
    out = dict(scores)
    recurring: dict[int, list[str]] = {}
    for k, these in times.items():
        p = peaks[k]
        same = sorted(name for name, (_, when) in p.found.items()
                      if min(abs(when - t) for t in these) <= SAME_SOUND_SECONDS)
        recurring[k] = same
        if k in out:
            kept = [z for name, (z, _) in p.found.items() if name not in same]
            out[k] = round(min(out[k], max([p.rest, *kept])), 3)
    return out, dict(sorted(recurring.items()))
