"""A call score for every clip: how much a narrowband, lasting sound stands out from the sea's own floor.

Why this detector. Baleen whale calls are narrowband contours that last from a fraction of a second
to several seconds: fin whale 20 Hz pulses (~1 s, 23 -> 17 Hz), blue whale tones (10-100 Hz, several
seconds), humpback song units (100-4,000 Hz sweeps, 0.3-4 s), minke pulse trains (repeated short
pulses in one band). What a hydrophone hears besides them, and what a loudness score would pick
instead, is (a) the floor itself, red and changing with sea state and passing ships, (b) tonal lines
that last minutes or hours (ships, 60 Hz mains hum), and (c) broadband clicks. So the score is built
from a floor, a broadband correction and a bank of calibrated detectors, on the dB spectrogram the clip
already has:

1. The file's floor. For each frequency row, the highest of three estimates from a sparse set of the
   file's frames (computed once per file by `file_floor`, every 10 s): the median of dB over the minute
   before the clip, the median over the minute after, and the 30th percentile over the 40 s around it
   plus 2.9 dB (where that percentile lies under the median on noise). Subtracting it in dB makes the
   score blind to the recording's gain (a gain is a constant in dB), whitens the red sea, and removes what
   lasts: ship lines and hum (from the moment a line starts the minute after holds it, until it ends the
   minute before does, and a line steady through the 40 s around a clip, a ship at its closest approach,
   is held by the percentile), and slow changes of the floor. Calls last seconds, so none of them sees
   one: a fin whale series at one pulse every 12 s fills 8 % of the time, a 10 s blue whale call 25 % of
   the 40 s (under their 30 %), so a blue whale call that fills a whole window keeps it. Near the file's
   edge a side counts from 4 s of data: a hum switched on 8 s before the end is otherwise held by no
   estimate and scores as the loudest call; the price is that a call filling more than half of a file's
   first or last 4-5 s is taken for floor.
2. Broadband frames. The median over frequency of each frame's excess, smoothed by a running median over
   0.5 s, is taken off when positive (the floor rising within the clip lifts every row at once; a call
   occupies a few rows and leaves that median alone). A frame 3 dB above that running median is a click
   and is set to the floor, with two frames either side.
3. Clipping to [-6, 20] dB and averaging over ~64 ms (4 frames at nfft 4096, 75 % overlap): single
   noisy cells, deep fades and one very loud cell cannot dominate.
4. Detectors, each the best value over the clip of a mean of that excess:
   - below 520 Hz (fin, blue, minke), boxes of a call's extent: 45 Hz (3 bins) x 0.5, 1 and 2 s (a fin
     whale pulse, a blue whale tone or the 0.5 s of one that a window's edge leaves), 200 Hz x 1 and 2 s
     (a minke pulse train with its gaps, a fast low sweep). On white noise a box is the best detector of
     a call of known extent; a summed-area table makes all five cost one pass;
   - below 520 Hz, pulse trains (minke): each short down-sweep's mean excess along a diagonal of
     -1,700 Hz/s, 4 frames (64 ms) by 3 bins, at full time resolution, which is what a 0.12 s pulse of
     300 -> 100 Hz looks like through the 64 ms window; counted above 4 dB (a 6 dB pulse reaches it,
     noise on those 12 cells seldom does) and summed over 1 and 2 s, so the pulses add up instead of
     being diluted by their gaps. A 200 Hz band's mean over 64 ms, the first version, left a 6 dB train
     on a clean sea at the level of noise;
   - below 520 Hz, a steady frequency over 0.5 s (a fin whale pulse, a blue whale tone; a quarter second
     of one is what two ships' lines beating in one bin also make). Over the whole band it also found
     beating lines and the noise of floor rises, its false picks crowding out calls; humpback units,
     the only calls above 520 Hz, are found by the contours;
   - over the whole band (humpback), straight contours of 0.375 s at six slopes (+-250, +-500,
     +-1,000 Hz/s).
   Each is put in units of its own spread on pure noise (measured once per process on white noise with
   the floor made as for a file: after the floor is taken off, every sea is white), and the score is the
   best of them: "noise spreads above what noise gives", about 0-6 for noise, tones and clicks, 6-80 for
   calls 6 dB over the floor.

Known weak spots (see bench/detect.py, which counts its misses by kind and situation): a call under a
slow rise of the whole floor is seen against the floor of the louder minute around it and can be lost,
and such a rise lifts every detector's noise a little, so its windows fill some false picks; a call with
less than a second in the window (a humpback unit or minke train cut by the window's edge) is often
under the best noise windows at 6 dB; the floor is per file, so a line that starts or ends near a file's
edge is judged from the few seconds there (above).

Cost: a subtraction, a per-frame median over a quarter of the rows, a clip, a 4-frame pooling, running
sums by doubling (lengths rounded to powers of two: 8/16/32 pooled columns, 64/128 frames) over the low
rows, and slice additions for the contours and pulses, on the ~309 x 257 cells of a 5 s clip (nfft 4096,
75 % overlap): ~0.45 ms on a shared core, as before the pulse detector was added (bench/detect.py
measures it). The per-file floor costs a sparse set of FFTs (two frames per second) and two medians
and a percentile per 10 s block.

`floor_levels` reuses the same floor for the optional "floor" contrast of the images: subtracting it
before the colour map, as PAMGuard's spectrogram noise reduction does, shows calls against an even
background instead of a red sea painted bright at low frequencies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .render import CMAP_LEVELS, RenderSettings, band_db, bins, hann, to_levels

FRAMES_PER_SECOND = 2.0
"""Frames the floor is estimated from: a 5-minute file gives 600, plenty for a median per row."""
SIDE_SECONDS = 60.0
"""The running medians' width: long against a call (seconds), short against a passing ship (minutes)."""
STEP_SECONDS = 10.0
"""The floor is computed every this many seconds; a clip takes the nearest."""
MIN_FRAMES = 24
EDGE_FRAMES = 8
"""A side of the floor cut short by the file's edge (or a gap) still counts from 4 s (8 frames): a line that
starts or stops within a minute of the edge is otherwise seen from one side only, and scores as a loud call."""
LOCAL_SECONDS = 20.0
"""Half-width of the local look at the floor: a line that holds +-20 s around a clip is steady (a ship at its
closest approach), a call (a blue whale's ~10 s, a fin whale's 1 s) fills less than a third of it."""
LOCAL_QUANTILE = 30.0
LOCAL_OFFSET_DB = float(10 * np.log10(np.log(2) / np.log(1 / 0.7)))
"""The 30th percentile of a noise row lies this far (2.9 dB) below its median (power is exponential); added back,
the local term is the median for noise and lies above a steady line."""
CLIP_LOW, CLIP_HIGH = -6.0, 20.0
BROADBAND_ROW_STEP = 4


@dataclass(frozen=True)
class Floor:
    """A file's per-frequency noise floor in dB, every `STEP_SECONDS`, rows as `spectrogram_db` gives them."""

    times: np.ndarray
    """Seconds since the day's midnight, ascending."""
    rows: np.ndarray
    """dB, shape (len(times), frequency rows), high to low frequency as in the clip's spectrogram."""

    def at(self, t: float) -> np.ndarray:
        """The floor nearest to time `t` (seconds since midnight), e.g. a clip's middle."""
        if len(self.times) == 0:
            raise ValueError("an empty floor has no value at any time")
        i = int(np.clip(np.searchsorted(self.times, t), 1, max(len(self.times) - 1, 1)))
        if len(self.times) > 1 and abs(self.times[i - 1] - t) <= abs(self.times[i] - t):
            i -= 1
        return self.rows[min(i, len(self.times) - 1)]


def _frames_db(x: np.ndarray, rs: RenderSettings, rate: int, stride: int) -> np.ndarray:
    """dB of frames every `stride` samples, with the clip spectrogram's window, bins and row order.

    Only the frames are made floats (an eighth of a 64 kHz file at nfft 4096; more than the file when
    the stride is shorter than nfft), not a float copy of the whole file. The mean removed is still the
    whole file's: the frames' own mean moved the two lowest rows by up to 0.5 dB, and fin calls at
    20 Hz lie in the second (bench/detect.py lost one)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, rs.nfft)[::stride].astype(np.float32)
    frames -= np.float32(x.mean())
    frames *= hann(rs.nfft)
    return band_db(frames, rs, rate)[:, ::-1]


def file_floor(segments: Iterable[tuple[int, np.ndarray]], rs: RenderSettings, rate: int) -> Floor:
    """The floor of one file from its data: `segments` are (day index of the first sample, samples).

    Windows are mean-filled where data is missing, so the floor is taken from the data itself.
    """
    stride = max(1, int(rate / FRAMES_PER_SECOND))
    times: list[np.ndarray] = []
    dbs: list[np.ndarray] = []
    for start, data in segments:
        if len(data) < rs.nfft:
            continue
        db = _frames_db(data, rs, rate, stride)
        times.append(start / rate + (np.arange(len(db)) * stride + rs.nfft / 2) / rate)
        dbs.append(db)
    if not dbs:
        raise ValueError("no segment is long enough for a single spectrogram frame; the file has no floor")
    return floor_from_frames(np.concatenate(times), np.concatenate(dbs))


def floor_from_frames(t: np.ndarray, d: np.ndarray) -> Floor:
    """The floor from a file's sparse frames: `t` seconds since midnight (ascending), `d` their dB rows."""
    centres = np.arange(t.min() + STEP_SECONDS / 2, t.max() + STEP_SECONDS / 2, STEP_SECONDS)
    rows = np.empty((len(centres), d.shape[1]), dtype=np.float32)
    medians: dict[tuple[int, int], np.ndarray] = {}  # a minute after one centre is the minute before another

    def median(a: int, b: int) -> np.ndarray:
        if (a, b) not in medians:
            medians[a, b] = np.median(d[a:b], axis=0)
        return medians[a, b]

    for i, c in enumerate(centres):
        # the higher of the minute before and the minute after: a ship's tone is in the floor from the
        # moment it starts (the minute after holds it) until it ends (the minute before holds it)
        before, mid, after = np.searchsorted(t, [c - SIDE_SECONDS, c, c + SIDE_SECONDS])
        sides = [median(a, b) for a, b in ((before, mid), (mid, after)) if b - a >= EDGE_FRAMES]
        # and a line steady through the +-20 s around (a ship's closest approach, which the minutes on
        # either side hold weaker) is floor too; a call fills too little of those 40 s to move their 30th percentile
        a, b = np.searchsorted(t, [c - LOCAL_SECONDS, c + LOCAL_SECONDS])
        if b - a >= MIN_FRAMES:
            sides.append(np.percentile(d[a:b], LOCAL_QUANTILE, axis=0) + LOCAL_OFFSET_DB)
        rows[i] = np.max(sides, axis=0) if sides else np.median(d, axis=0)  # a short file: its every frame
    return Floor(centres, rows)


SCORE_VERSION = 2
"""The scale of the scores: raised whenever the detector changes what a score means. A day manifest
records it with its settings, so a rerun rescores the files of a manifest made by another version
(reusing them would rank two scales against each other); their stored clips are not made again."""


POOL_SECONDS = 0.064
"""Frames are averaged in time to about this (4 frames at nfft 4096, 75 % overlap) before the contour search."""
SLOPES_HZ_PER_S = (-1000.0, -500.0, -250.0, 250.0, 500.0, 1000.0)
"""Contours searched: straight sweeps this fast, up and down (humpback units fit between); a steady
frequency counts only over TONE_SECONDS, since a quarter second of one is what two ships' lines beating
in one bin also make."""
CONTOUR_SECONDS = 0.375
TONE_SECONDS = 0.5
LOW_HZ = 520.0
"""The low band, where fin, blue and minke whales call, is searched at full resolution for power."""
LOW_BOXES = ((45.0, 0.5), (45.0, 1.0), (45.0, 2.0), (200.0, 1.0), (200.0, 2.0))
"""(Hz, s) boxes of power over the floor in the low band: fin pulses and blue tones (3 bins, 0.5-2 s; a call
cut by the window's edge keeps 0.5 s), pulse trains with their gaps (minke) and fast low sweeps (200 Hz)."""
PULSE_SLOPE_HZ_PER_S = -1700.0
PULSE_SECONDS, PULSE_HZ = 0.064, 47.0
"""A short down-sweeping pulse (minke: 300 -> 100 Hz in 0.12 s) as the spectrogram draws it: a diagonal of ~4 frames
(the 64 ms window blurs the rest) and 3 bins wide, found at full time resolution (pooling would blur it away)."""
PULSE_DB = 4.0
"""A pulse's mean excess counts above this: a 6 dB pulse reaches it, noise on ~12 cells seldom does."""
TRAIN_SECONDS = (1.0, 2.0)
BROADBAND_SECONDS = 0.5
CLICK_DB = 3.0
"""A frame whose median over frequency stands this far above its neighbours' is a click: every frequency
lifted at once. A call occupies a few rows and leaves that median alone."""


@dataclass(frozen=True)
class _Kernels:
    pool: int
    offsets: tuple[tuple[int, ...], ...]
    """Per slope, the row offset of each of a contour's pooled columns from its first."""
    contour: int
    tone: int
    low_rows: int
    boxes: tuple[tuple[int, int], ...]
    pulse_offsets: tuple[int, ...]
    pulse_rows: int
    trains: tuple[int, ...]
    broadband: int


def _pow2(x: float) -> int:
    """The power of two nearest to `x` (at least 1): window sums of such lengths double up (`_doublings`)."""
    return 1 << max(0, int(round(np.log2(max(x, 1.0)))))


@lru_cache(maxsize=8)
def _kernels(rs: RenderSettings, rate: int, cols: int) -> _Kernels:
    hop = rs.hop / rate
    df = rate / rs.nfft
    pool = max(1, int(round(POOL_SECONDS / hop)))
    T = max(1, cols // pool)
    dt = pool * hop
    contour = min(T, max(1, int(round(CONTOUR_SECONDS / dt))))
    offsets = tuple(tuple(int(round(s * dt / df * j)) for j in range(contour)) for s in SLOPES_HZ_PER_S)
    return _Kernels(
        pool, offsets,
        contour=contour, tone=_pow2(TONE_SECONDS / dt),
        low_rows=max(1, int(round((LOW_HZ - rs.fmin) / df))),
        boxes=tuple((max(1, int(round(hz / df))), _pow2(sec / dt)) for hz, sec in LOW_BOXES),
        pulse_offsets=tuple(int(round(-PULSE_SLOPE_HZ_PER_S * hop / df * j))
                            for j in range(max(1, int(round(PULSE_SECONDS / hop))))),
        pulse_rows=max(1, int(round(PULSE_HZ / df))),
        trains=tuple(_pow2(sec / hop) for sec in TRAIN_SECONDS),
        broadband=max(3, int(round(BROADBAND_SECONDS / hop)) | 1),
    )


def _over_floor(db: np.ndarray, floor: np.ndarray, k: _Kernels, dc: bool) -> np.ndarray:
    """dB over the floor, less what lifts every frequency at once (a click, a floor rising within the clip)."""
    z = db - floor[:, None]
    if dc:  # 0 Hz holds the clip's offset, not sound
        z[-1] = 0.0
    sub = np.ascontiguousarray(z[::BROADBAND_ROW_STEP].T)  # frames x rows: each frame's rows side by side
    half = sub.shape[1] // 2
    med = np.partition(sub, half, axis=1)[:, half]
    slow = ndimage.median_filter(med, size=min(k.broadband, len(med)), mode="nearest")
    z -= np.maximum(slow, 0.0)  # a floor that falls within the clip leaves the rows its lines hold at 0 dB
    click = med - slow > CLICK_DB
    if click.any():
        z[:, ndimage.binary_dilation(click, iterations=2)] = 0.0
    return z


def _responses(z: np.ndarray, k: _Kernels) -> np.ndarray:
    """Each detector's best value on the clip: low-band boxes, pulse trains, sheared contours, a low steady tone."""
    R = z.shape[0]
    T = z.shape[1] // k.pool
    np.clip(z, CLIP_LOW, CLIP_HIGH, out=z)  # in place: `z` is `_over_floor`'s own array
    p = z[:, 0 : T * k.pool : k.pool].copy()
    for i in range(1, k.pool):
        p += z[:, i : T * k.pool : k.pool]
    p *= np.float32(1 / k.pool)
    out = []
    # the low band: mean dB over the floor in boxes of a call's extent (fin, blue, minke), by a summed-area table
    low = p[-min(k.low_rows, R) :]
    rows_cs = np.zeros((low.shape[0] + 1, T), dtype=np.float32)
    np.cumsum(low, axis=0, out=rows_cs[1:])
    for rows_ in sorted({r for r, _ in k.boxes}):
        r = min(rows_, low.shape[0])
        sums = _doublings(rows_cs[r:] - rows_cs[:-r], max(c for rr, c in k.boxes if rr == rows_))
        for rr, cols_ in k.boxes:
            if rr == rows_:
                c = min(cols_, T)
                out.append((float(sums[c].max()) if c in sums else 0.0) / (r * c))
    # pulse trains (minke): each short down-sweep's mean excess along its diagonal, at full time resolution,
    # counted above PULSE_DB and summed over 1 and 2 s, so that pulses add up instead of being diluted by their gaps
    q = z[-min(k.low_rows, R) :]
    span, L = k.pulse_offsets[-1], len(k.pulse_offsets)
    n_r, n_t = q.shape[0] - span, q.shape[1] - L + 1
    if n_r >= k.pulse_rows and n_t >= 1:
        diag = q[:n_r, :n_t].copy()
        for j in range(1, L):
            o = k.pulse_offsets[j]
            diag += q[o : o + n_r, j : j + n_t]
        rows_cs = np.zeros((n_r + 1, n_t), dtype=np.float32)
        np.cumsum(diag, axis=0, out=rows_cs[1:])
        w = k.pulse_rows
        pulse = np.maximum((rows_cs[w:] - rows_cs[:-w]) * np.float32(1 / (w * L)) - PULSE_DB, 0.0)
        sums = _doublings(pulse, max(k.trains))
        for cols_ in k.trains:
            out.append(float(sums[cols_].max()) / cols_ if cols_ in sums else 0.0)
    else:
        out.extend(0.0 for _ in k.trains)
    # the whole band: contours of sweeps (humpback)
    L = min(k.contour, T)
    for offs in k.offsets:
        lo, hi = max(0, -min(offs)), R - max(0, max(offs))
        if hi <= lo:
            out.append(0.0)
            continue
        out.append(float(_contour(p, offs[:L], lo, hi).max()) / L)
    n = k.tone  # steady tones in the low band (fin, blue)
    sums = _doublings(low, n)
    out.append(float(sums[n].max()) / n if n in sums else 0.0)
    return np.asarray(out)


def _doublings(a: np.ndarray, n: int) -> dict[int, np.ndarray]:
    """Sums of 1, 2, 4, ... up to `n` (a power of two) consecutive columns of `a`, each from the one before by
    one addition: a cumulative sum along rows of memory costs several times more. Lengths the clip is too
    short for are left out."""
    out = {1: a}
    w = 1
    while w < n and 2 * w <= a.shape[1]:
        a = a[:, :-w] + a[:, w:]
        w *= 2
        out[w] = a
    return out


def _contour(p: np.ndarray, offs: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    """Sums of `p` along straight contours (row offset `offs[j]` at column j) starting at rows lo..hi-1.

    A straight contour of even length is its first half plus that half moved on: 3 additions instead of 5.
    """
    L, T = len(offs), p.shape[1]
    h = L // 2
    if L % 2 == 0 and h > 1 and all(o == j * offs[1] for j, o in enumerate(offs)):
        s = offs[h]
        hlo = lo + min(0, s)
        half = _contour(p, offs[:h], hlo, hi + max(0, s))
        a, b = lo - hlo, lo - hlo + s
        return half[a : a + hi - lo, : T - L + 1] + half[b : b + hi - lo, h : h + T - L + 1]
    acc = p[lo:hi, : T - L + 1].copy()
    for j in range(1, L):
        acc += p[lo + offs[j] : hi + offs[j], j : T - L + 1 + j]
    return acc


CALIBRATION_SECONDS = 150
"""Pure noise the detectors are calibrated on: 30 clips, with the floor made as for a file."""


@lru_cache(maxsize=8)
def _noise_calibration(rs: RenderSettings, rate: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each detector's mean and spread of its best value on clips of pure noise, to put them on one scale.

    Measured once per process on white noise with a fixed seed, its floor made by `file_floor` as a
    file's is: after the floor is subtracted every sea looks white, so this holds for any recording.
    """
    from .render import spectrogram_db

    rng = np.random.default_rng(20151)
    clip = int(round((shape[1] - 1) * rs.hop + rs.nfft))
    n_clips = max(8, int(CALIBRATION_SECONDS * rate // clip))
    x = rng.standard_normal(n_clips * clip).astype(np.float32) * 1000
    floor = file_floor([(0, x)], rs, rate)
    k = _kernels(rs, rate, shape[1])
    dc = bins(rs, rate)[0] == 0
    r = np.array([
        _responses(_over_floor(spectrogram_db(x[i * clip : (i + 1) * clip], rs, rate),
                               floor.at((i + 0.5) * clip / rate), k, dc), k)
        for i in range(n_clips)
    ])
    return r.mean(axis=0), np.maximum(r.std(axis=0), 1e-3)


def call_score(db: np.ndarray, floor: np.ndarray, rs: RenderSettings, rate: int) -> float:
    """The clip's call score: how far its best detector stands above what pure noise gives, in noise spreads.

    `db` is the clip's spectrogram as `render.spectrogram_db` makes it; `floor` is `Floor.at(clip middle)`.
    Around 0 for sea noise, steady tones, slow floor changes and clicks; large for calls.
    """
    if db.shape[0] != floor.shape[0]:
        raise ValueError(f"spectrogram has {db.shape[0]} rows but the floor {floor.shape[0]}: other render settings?")
    mu, sd = _noise_calibration(rs, rate, db.shape)
    k = _kernels(rs, rate, db.shape[1])
    r = _responses(_over_floor(db, floor, k, bins(rs, rate)[0] == 0), k)
    return round(float(((r - mu) / sd).max()), 3)


FLOOR_DB_RANGE = (0.0, 24.0)
"""dB over the floor shown darkest and brightest with the "floor" contrast."""


def floor_levels(db: np.ndarray, floor: np.ndarray, span: tuple[float, float] = FLOOR_DB_RANGE) -> np.ndarray:
    """Palette indices for the "floor" contrast: dB over the file's floor, on a fixed range.

    A fixed range over the floor means an empty clip looks empty (dark, even) and a call's
    brightness says how far it stands out, the same on every clip of every day.
    """
    levels = to_levels(db - floor[:, None], *span)
    assert levels.max(initial=0) < CMAP_LEVELS
    return levels
