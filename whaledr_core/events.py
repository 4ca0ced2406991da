"""Synthetic whale calls and look-alikes with ground truth, to measure how well the score finds calls.

Every event has a kind, a start time (seconds since the day's midnight), a duration and a
signal-to-noise ratio, so a benchmark (and `whaledr synth`, which can record them in a ground-truth
file beside its mirror) knows which windows hold calls.

The calls follow published descriptions of the North-East Pacific species (shapes, not recordings):
- `fin`: ~1 s down-sweeps 23 -> 17 Hz (the "20 Hz pulse"), in series every ~12 s;
- `blue`: B-call-like tones, ~6 s, 17 -> 15.5 Hz with harmonics near 47 and 78 Hz;
- `humpback`: song units of 0.4-2 s, up- or down-sweeps somewhere in 150-3,000 Hz with a harmonic;
- `minke`: a train of ~10 short pulses (100-300 Hz down-sweeps) 0.35 s apart;
- `upcall`: a North Atlantic right whale upcall, ~1 s rising from 60-110 Hz to 150-250 Hz (McDonald and
  Moore 2002: 90 -> 150 Hz in 0.7 s in the North Pacific; NOAA NEFSC: ~100 -> 300 Hz; 80-240 Hz/s here,
  as the upcalls of the shared PAMGuard and SanctSound right whale clips), with a weak harmonic;
- `blue_a`: a North-East Pacific blue whale A call, ~18 s of pulses at ~1.5 per second (NOAA PMEL's
  description, "a series of pulses, on the order of 1.5 pulses/s, often side-banded") on a carrier
  near 83 Hz (the "strong overtone near 90 Hz" of the eastern call, lower today as the calls' pitch
  has fallen), with a weaker tone at a fifth of it;
- `boing`: a North Pacific minke whale boing, ~2.6 s of pulses at 115 per second on a 1.4 kHz carrier
  (Rankin and Barlow 2005: the central boing, 115 pulses/s, 2.6 s; energy in 1,350-1,440 Hz), which the
  spectrogram draws as lines 115 Hz apart around 1.4 kHz, after a short broadband onset.
The distractors are what a hydrophone also hears and a naive loudness score would pick:
- `ship`: tonal lines (a fundamental 40-200 Hz and harmonics) of a passage lasting 10-30 minutes,
  rising and falling with the ship's range (strongest at the closest point of approach);
- `hum`: 60 Hz mains hum with harmonics, switched on abruptly for 10-60 minutes;
- `click`: a single broadband click of a few milliseconds;
- `floor`: a slow rise and fall of the whole floor by several dB over minutes (a passing ship's noise);
and, shaped from the real recordings in ../shared/realdata (README there; bench/real.py):
- `knocks`: minutes of irregular knocks, each a 10-50 ms damped ring somewhere in 100-300 Hz, about
  1.5 a second at random (the wind-and-waves clips HI04_03 and CI02_03 with their short low thumps, the
  streaks of the NOPP6 recording, and issue 20's cabled-observatory day: "short knocks in 100-300 Hz
  throughout");
- `airgun`: a series of impulses every 10-15 s, each a broadband onset below ~1 kHz and a reverberant
  tail decaying over ~1 s (the explosion FK03_01 and the seal bombs CI05_02, MB01_05, OC02_02);
- `sonar`: pings every 4 s, each a 1.6 s sweep from 900 to 1,000 Hz (the LFA sonar CI05_01);
- `rain`: minutes of raindrops, thousands of tiny impulses a second above ~800 Hz (the rain clips FK02_03,
  GR01_02, PM05_01: a floor raised from about 1 kHz up, speckled);
- `shrimp`: snapping shrimp, hundreds of very short broadband snaps a second, strongest from a few kHz up
  (the SanctSound caption: "highest energy levels ~3 to ~13 kHz"; FK02_01, PM05_01 soundscape).

SNR is what a volunteer would see: the call's mean power over the spectrogram cells where it is
within 10 dB of its own peak, over the sea noise's median power in the same cells (the floor the
score also uses). `add` scales an event to its SNR where it is added. Distractors carry their own level
over the floor in the same sense.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .render import RenderSettings, spectrogram_db

CALLS = ("fin", "blue", "humpback", "minke", "upcall", "blue_a", "boing")
DISTRACTORS = ("ship", "hum", "click", "floor", "knocks", "airgun", "sonar", "rain", "shrimp")
TONAL = ("ship", "hum")
LASTING = ("ship", "hum", "floor", "knocks", "airgun", "sonar", "rain", "shrimp")
"""Distractors that last minutes: at sea they overlap calls, and so they may here."""
TRANSIENT = ("click", "knocks", "airgun", "sonar", "rain", "shrimp")
"""Distractors added over the calls (a call's SNR is set over the sea and its lasting tones, not these)."""
DURATIONS: dict[str, tuple[float, float]] = {
    "fin": (1.0, 1.0), "blue": (6.0, 6.0), "humpback": (0.4, 2.0), "minke": (3.5, 3.5), "upcall": (0.7, 1.3),
    "blue_a": (15.0, 19.0), "boing": (2.4, 3.0), "ship": (600.0, 1800.0), "hum": (600.0, 3600.0),
    "click": (0.01, 0.01), "floor": (120.0, 180.0), "knocks": (120.0, 600.0), "airgun": (120.0, 600.0),
    "sonar": (60.0, 300.0), "rain": (120.0, 600.0), "shrimp": (300.0, 1200.0)}
LEVELS: dict[str, float] = {"ship": 15.0, "hum": 12.0, "click": 30.0, "floor": 8.0, "knocks": 15.0, "airgun": 25.0,
                            "sonar": 15.0, "rain": 6.0, "shrimp": 10.0}
"""Distractors' own levels over the floor (dB, as a call's SNR)."""


@dataclass(frozen=True)
class Event:
    kind: str
    start: float
    """Seconds since the day's midnight."""
    duration: float
    snr_db: float
    seed: int = 0
    """The event's own random choices (sweep ends, harmonics), so it can be made again."""

    def __post_init__(self) -> None:
        if self.kind not in CALLS + DISTRACTORS:
            raise ValueError(f"unknown event kind {self.kind!r}; known: {', '.join(CALLS + DISTRACTORS)}")

    @property
    def is_call(self) -> bool:
        return self.kind in CALLS

    def windows(self, clip_seconds: int, min_seconds: float = 0.5) -> list[int]:
        """Windows holding at least `min_seconds` of the event (all of it when it is shorter)."""
        need = min(min_seconds, self.duration)
        first, last = int(self.start // clip_seconds), int((self.start + self.duration) // clip_seconds)
        out = []
        for k in range(first, last + 1):
            overlap = min(self.start + self.duration, (k + 1) * clip_seconds) - max(self.start, k * clip_seconds)
            if overlap > 0 and overlap >= need - 1e-9:
                out.append(k)
        return out


def sea_noise(n: int, rng: np.random.Generator, level: float = 6000.0) -> np.ndarray:
    """Red-ish sea noise as `synth.signal` makes it (a one-pole low-pass of white noise plus some white)."""
    from scipy.signal import lfilter

    white = rng.standard_normal(n, dtype=np.float32)
    x = lfilter([1.0], [1.0, -0.97], white).astype(np.float32) * np.float32(level)
    x += white * np.float32(level / 2)
    return x


def _sweep(t: np.ndarray, f0: float, f1: float, length: float) -> np.ndarray:
    return 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * length))


def _taper(t: np.ndarray, length: float, edge: float = 0.1) -> np.ndarray:
    e = min(edge, length / 4)
    return np.clip(np.minimum(t, length - t) / e, 0, 1) ** 2


def waveform(ev: Event, rate: int, lo: int = 0, hi: int | None = None, envelope: bool = True) -> np.ndarray:
    """Samples [lo, hi) of the event's shape at unit scale (`add` gives it its level).

    Long events are made only where they are needed: a 30-minute ship passage is 115 M samples.
    `envelope=False` leaves out a ship's rise and fall, for setting its level at its closest point.
    """
    rng = np.random.default_rng(ev.seed)
    n = int(round(ev.duration * rate))
    hi = n if hi is None else min(hi, n)
    lo = max(0, lo)
    t = np.arange(lo, hi) / rate
    L = ev.duration
    if ev.kind == "fin":
        return np.sin(_sweep(t, 23.0, 17.0, L)) * _taper(t, L, 0.2)
    if ev.kind == "blue":
        ph = _sweep(t, 17.0, 15.5, L)
        return (np.sin(ph) + 0.6 * np.sin(3 * ph) + 0.4 * np.sin(5 * ph)) * _taper(t, L, 0.8)
    if ev.kind == "humpback":
        f0 = float(rng.uniform(150, 2500))
        f1 = float(np.clip(f0 * rng.choice([0.5, 0.7, 1.4, 2.0]), 120, 3000))
        ph = _sweep(t, f0, f1, L)
        return (np.sin(ph) + 0.5 * np.sin(2 * ph)) * _taper(t, L)
    if ev.kind == "minke":
        y = np.zeros(n)
        p = int(0.12 * rate)
        tp = np.arange(p) / rate
        pulse = np.sin(_sweep(tp, 300.0, 100.0, 0.12)) * np.sin(np.pi * tp / 0.12) ** 2
        for a in range(0, n - p, int(0.35 * rate)):
            y[a : a + p] += pulse
        return y[lo:hi]
    if ev.kind == "upcall":
        f0 = float(rng.uniform(60, 110))
        f1 = f0 + float(rng.uniform(80, 240)) * L
        ph = _sweep(t, f0, min(f1, 260.0), L)
        return (np.sin(ph) + 0.3 * np.sin(2 * ph)) * _taper(t, L, 0.15)
    if ev.kind == "blue_a":
        f = float(rng.uniform(80.0, 88.0))
        rate_ = float(rng.uniform(1.3, 1.7))
        pulses = np.clip(np.sin(2 * np.pi * rate_ * t), 0, None) ** 2  # 1.5 pulses a second, each ~0.3 s
        tone = np.sin(_sweep(t, f, f - 2.0, L)) + 0.4 * np.sin(_sweep(t, f / 5, (f - 2.0) / 5, L))
        return tone * pulses * _taper(t, L, 1.0)
    if ev.kind == "boing":
        prr = float(rng.uniform(105, 120))
        carrier = 1400.0 + 20.0 * np.sin(2 * np.pi * 0.3 * t)
        pulses = np.clip(np.cos(2 * np.pi * prr * t), 0, None) ** 8  # narrow pulses: a comb of lines prr apart
        y = np.sin(2 * np.pi * np.cumsum(carrier) / rate) * pulses * _taper(t, L, 0.2)
        onset = t < 0.08
        y[onset] += rng.standard_normal(int(onset.sum())) * 0.5
        return y
    if ev.kind == "knocks":
        return _impulses(ev, rate, lo, hi, rng, per_second=1.5, shape=_knock)
    if ev.kind == "airgun":
        return _impulses(ev, rate, lo, hi, rng, per_second=1 / 12.5, shape=_airgun, regular=True)
    if ev.kind == "sonar":
        y = np.zeros(len(t))
        phase = np.mod(t, 4.0)
        on = phase < 1.6
        y[on] = np.sin(_sweep(phase[on], 900.0, 1000.0, 1.6)) * _taper(phase[on], 1.6, 0.05)
        return y
    if ev.kind in ("rain", "shrimp"):
        from scipy.signal import butter, sosfilt

        dense = 3000 if ev.kind == "rain" else 300  # drops or snaps a second
        y = np.zeros(len(t))
        for sec in range(lo // rate, -(-hi // rate)):  # each second from its own seed: the same samples every call
            sub = np.random.default_rng([ev.seed, sec])
            hits = sec * rate + sub.integers(0, rate, size=dense)
            amp = sub.standard_normal(dense) * (sub.pareto(3.0, dense) + 1)
            inside = (hits >= lo) & (hits < hi)
            np.add.at(y, hits[inside] - lo, amp[inside])
        cut = 800.0 if ev.kind == "rain" else 2000.0
        y = sosfilt(butter(2, cut / (rate / 2), "high", output="sos"), y)
        return y * np.clip(np.minimum(t, L - t) / 10.0, 0, 1) if envelope else y
    if ev.kind == "ship":
        f = float(rng.uniform(40, 200))
        lines = np.sum([np.sin(2 * np.pi * f * h * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3)], axis=0)
        return lines / (1 + ((t - L / 2) / (L / 8)) ** 2) if envelope else lines  # amplitude falls with range
    if ev.kind == "hum":
        return np.sum([np.sin(2 * np.pi * 60.0 * h * t) / h for h in (1, 2, 3)], axis=0)
    if ev.kind == "click":
        m = max(8, int(0.003 * rate))
        y = np.zeros(n)
        y[:m] = rng.standard_normal(m) * np.hanning(m)
        return y[lo:hi]
    if ev.kind == "floor":
        return np.sin(np.pi * t / L) ** 2  # a gain envelope: applied multiplicatively by `add`
    raise AssertionError(ev.kind)


def _knock(rng: np.random.Generator, rate: int) -> np.ndarray:
    """One knock: a 10-50 ms damped ring at 100-300 Hz, as the wind-and-waves clips' thumps look."""
    d = float(rng.uniform(0.01, 0.05))
    t = np.arange(int(d * 2 * rate)) / rate
    f = float(rng.uniform(100, 300))
    return np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3)) * np.exp(-t / (d / 2.5)) * float(rng.uniform(0.3, 1.0))


def _airgun(rng: np.random.Generator, rate: int) -> np.ndarray:
    """One impulse: a 20 ms broadband onset, then a tail below ~1 kHz decaying over ~1 s (reverberation)."""
    from scipy.signal import butter, sosfilt

    n = int(1.5 * rate)
    t = np.arange(n) / rate
    noise = rng.standard_normal(n)
    low = sosfilt(butter(2, 800.0 / (rate / 2), "low", output="sos"), noise)
    return noise * np.exp(-t / 0.005) + 3 * low * np.exp(-t / 0.3)


def _impulses(ev: Event, rate: int, lo: int, hi: int, rng: np.random.Generator, per_second: float, shape,
              regular: bool = False) -> np.ndarray:
    """Samples [lo, hi) of a series of `shape`s over the event: at random (Poisson) or every 1/per_second s."""
    n = int(round(ev.duration * rate))
    at = float(rng.uniform(0.1, 0.5))  # the first within half a second of the start, so a level can be set
    times: list[int] = []
    while at * rate < n:
        times.append(int(at * rate))
        at += (1 / per_second) * (rng.uniform(0.8, 1.2) if regular else rng.exponential(1.0))
    y = np.zeros(hi - lo)
    for a in times:
        s = shape(rng, rate)
        b0, b1 = max(a, lo), min(a + len(s), hi)
        if b0 < b1:
            y[b0 - lo : b1 - lo] += s[b0 - a : b1 - a]
    return y


def snr_db(signal: np.ndarray, noise: np.ndarray, rs: RenderSettings, rate: int) -> float:
    """The signal's mean power over its own cells (within 10 dB of its peak) over the noise's median there."""
    s = 10 ** (spectrogram_db(signal, rs, rate) / 10)
    nz = 10 ** (spectrogram_db(noise, rs, rate) / 10)
    cells = s >= s.max() / 10
    floor = np.median(nz, axis=1, keepdims=True) * np.ones_like(nz)
    return float(10 * np.log10(s[cells].mean() / floor[cells].mean()))


def add(x: np.ndarray, t0: float, ev: Event, rs: RenderSettings, rate: int) -> None:
    """Add `ev` into `x`, which starts `t0` seconds after midnight, at its SNR over `x` as it is.

    The level is set against the noise under the event (the 5 s around its middle, or for events
    longer than that, the first 5 s of it in `x`, at full strength), so an event's SNR means the
    same whatever the floor's colour there.
    """
    a = int(round((ev.start - t0) * rate))
    n = int(round(ev.duration * rate))
    lo, hi = max(a, 0), min(a + n, len(x))
    if lo >= hi:
        return
    shape = waveform(ev, rate, lo - a, hi - a)
    if ev.kind == "floor":
        x[lo:hi] *= (1 + (10 ** (ev.snr_db / 20) - 1) * shape).astype(np.float32)
        return
    w = min(5 * rate, len(x))
    if n <= w:
        c0 = int(np.clip(a + n // 2 - w // 2, 0, len(x) - w))
        probe = np.zeros(w)
        s0, s1 = max(a, c0), min(a + n, c0 + w)
        probe[s0 - c0 : s1 - c0] = waveform(ev, rate, s0 - a, s1 - a)
    else:
        c0 = min(lo, len(x) - w)
        probe = waveform(ev, rate, c0 - a, c0 - a + w, envelope=False)
        probe = np.pad(probe, (0, w - len(probe)))
    scale = 10 ** ((ev.snr_db - snr_db(probe, x[c0 : c0 + w], rs, rate)) / 20)
    x[lo:hi] += (scale * shape).astype(np.float32)


def scatter(
    day_seconds: float,
    counts: dict[str, int],
    snr: float | dict[str, float],
    rng: np.random.Generator,
    clip_seconds: int = 5,
    t0: float = 0.0,
) -> list[Event]:
    """Events of each kind at random times in [t0, t0 + day_seconds), calls never sharing a window.

    Distractors that last minutes (ship, hum, floor) may overlap calls, as they do at sea; clicks
    and calls each get windows of their own, so every call window's truth is unambiguous.
    """
    durations, levels = DURATIONS, LEVELS
    used: set[int] = set()
    events: list[Event] = []
    for kind, count in counts.items():
        for _ in range(count):
            lo_d, hi_d = durations[kind]
            d = float(rng.uniform(lo_d, hi_d))
            for _attempt in range(1000):
                start = float(rng.uniform(t0, t0 + max(day_seconds - d, 0.0)))
                ev = Event(kind, round(start, 3), round(d, 3),
                           levels.get(kind, snr[kind] if isinstance(snr, dict) else snr), int(rng.integers(2**31)))
                ws = ev.windows(clip_seconds, min_seconds=0.0)
                if kind in CALLS + ("click",):
                    if used & set(range(ws[0] - 1, ws[-1] + 2)):
                        continue
                    used.update(ws)
                break
            else:
                raise ValueError(f"no room for {count} {kind} events in {day_seconds} s")
            events.append(ev)
    return sorted(events, key=lambda e: e.start)


def truth_windows(events: Iterable[Event], clip_seconds: int) -> dict[int, list[Event]]:
    """Window -> the events it holds (calls by at least 0.5 s or whole)."""
    out: dict[int, list[Event]] = {}
    for ev in events:
        for k in ev.windows(clip_seconds):
            out.setdefault(k, []).append(ev)
    return out


def dumps(events: Sequence[Event], day: dt.date) -> bytes:
    """The ground-truth file: one JSON object per event with its UTC start."""
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    rows = [
        {**asdict(e), "time": (midnight + dt.timedelta(seconds=e.start)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
         "call": e.is_call}
        for e in events
    ]
    return json.dumps({"date": day.isoformat(), "events": rows}, indent=1).encode()


def loads(data: bytes) -> list[Event]:
    doc = json.loads(data)
    return [Event(r["kind"], r["start"], r["duration"], r["snr_db"], r.get("seed", 0)) for r in doc["events"]]
