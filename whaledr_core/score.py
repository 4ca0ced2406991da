"""A call score for every clip: how far a call-shaped sound stands out from the sea its own file records.

Why this detector. Baleen whale calls are narrowband contours that last from a fraction of a second to
many seconds, each species with a shape of its own (published parameters beside each constant below):
fin whale 20 Hz pulses, blue whale B calls (~17 Hz with harmonics) and pulsed A calls (~80-90 Hz),
humpback song units, right whale upcalls (rising 50-250 Hz in ~1 s), minke pulse trains and boings, sei
downsweeps. What a hydrophone hears besides them, and what a loudness score picks instead, is (a) the
floor, red and changing with sea state and passing ships, (b) tonal lines that last minutes or hours
(ships, mains hum), (c) transients that fill a band at once: clicks, knocks (10-50 ms in 100-300 Hz, for
hours on some cabled hydrophones), airgun pulses and their reverberation, rain, snapping shrimp, and
(d) whatever a given sea does all the time. Built first on synthetic seas, the score picked knocks and
noise on real recordings (issue 20); what it is now, on the dB spectrogram the clip already has:

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
2. What lifts a band at once (`_over_floor`). In bands of two octaves from 47 Hz up, each frame's 30th
   percentile over the band's rows (plus the 2.9 dB it lies under the median on noise) is taken off the
   band's rows: a knock, a click, an airgun's onset and tail, a burst of rain fill most of a band; a call,
   a line a few rows wide even when loud, fills none. The pulse-train detector sees the low band before
   this (minke pulses are transients too, told from knocks by their rhythm).
3. Clipping to [-6, 20] dB and averaging over ~64 ms (4 frames at nfft 4096, 75 % overlap).
4. Detectors (`DETECTORS`, `clip_responses`), each the best value over the clip: boxes of a call's extent
   below 520 Hz, infrasonic (fin, blue B) apart from those above (blue A, gray, low humpback units);
   regular pulse trains (minke); straight contours of 0.375 s at +-250/500/1,000 Hz/s (humpback); slow
   rising contours of 0.75 s at 120/200 Hz/s in 40-450 Hz (right whale upcalls); a steady line for a
   second above 50 Hz (boings, tonal units); a pulsed tone in 60-130 Hz (blue A). Every contour and line
   counts by how far it stands above the same shape 47 Hz above and below, whichever is higher, and an
   upcall also by how far above the flat lines from its ends. Each is put in spreads of its value on white
   noise (`_noise_calibration`, once per process), and keeps when it found its best (`clip_peaks`).
5. The file's calibration (`file_scores`, once per file on all its windows' values). Each detector is
   put on the scale of the file's own windows: their median, and the largest of the median absolute
   deviation's spread, the interquartile range's and the least a real sea gives (`REAL_SPREAD`, measured
   on the real backgrounds of bench/real.py); the boxes' (infrasonic and above) also from their 90th
   percentile, since fin and blue whales call in series; the upcall detectors' from the median's deviation
   only, since right whales call in bouts. A detector that fires in a quarter or more of a file's windows (knocks
   throughout, a chain, a sonar for minutes, a fin whale series) adds little there; one that is quiet but
   for a few windows makes those stand out. Values above 5 are compressed (`KNEE`) and the score is the
   best: about 0-4 for noise, 5-15 for calls. The detectors at 5 or more are the window's peaks
   (`file_peaks`), kept with their times.
6. The day's look (`recurring`, where the day chooses its clips): peaks that fall on a chain at one fixed
   period through the day (a pinger, an echosounder, a sonar) are a machine's and leave the ranking.

Known weak spots (bench/real.py and bench/detect.py measure them): a clean machine sweep (a pinger's chirp,
a sonar ping) looks like a humpback unit: only its fixed period gives it away, over a day (a sweep that
comes at random stays a call); a steady tone of a few seconds in 50-500 Hz scores like a blue whale call
or a gray whale moan; odontocete calls (killer whale whistles) are contours too; a call in a file where its
kind fills a quarter of the windows ranks lower than the same call alone (not an upcall); a call under a
slow rise of the floor, or with under a second in the window, is often under the best noise windows at 6 dB.
Fin whale pulses and blue whale B calls score as other calls, though the default 0-4 kHz image shows them as
a smudge at its foot: `--preset low` shows them.

Cost: a subtraction, a percentile per band and frame, a clip, a 4-frame pooling, running sums by doubling
over the low rows, slice additions for the contours and pulses, two small FFTs for rhythms, on the ~309 x
257 cells of a 5 s clip (nfft 4096): ~0.35 ms a clip more than the score before issue 20 on a shared core
(bench/detect.py measures it), and a percentile over 60 windows per file. The per-file floor costs a
sparse set of FFTs (two frames per second) and two medians and a percentile per 10 s block.

`floor_levels` reuses the same floor for the "floor" contrast of the images (and the `low` preset):
subtracting it before the colour map, as PAMGuard's spectrogram noise reduction does, shows calls against
an even background instead of a red sea painted bright at low frequencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

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


SCORE_VERSION = 5
"""The scale of the scores: raised whenever the detector changes what a score means. A day manifest
records it with its settings, so a rerun rescores the files of a manifest made by another version
(reusing them would rank two scales against each other); their stored clips are not made again.
3: detectors calibrated on each file's own windows, transients removed band by band, upcall, tone
and pulse-train detectors (issue 20). 4: upcalls must rise and keep their weight in a bout; each
window's peaks are kept with their times for the day's look at sounds a machine repeats (`recurring`).
5: the boxes above the infrasonic ones read their spread from the 90th percentile too (`SERIES_TO_SD`)."""


POOL_SECONDS = 0.064
"""Frames are averaged in time to about this (4 frames at nfft 4096, 75 % overlap) before the contour search."""
CLIP_LOW, CLIP_HIGH = -6.0, 20.0

# --- transients: what lifts a whole band at once ----------------------------------------------------------
TRANSIENT_LOW_HZ = 47.0
"""Bands of two octaves from here up, each an octave above the last, and 0-188 Hz. In each, every frame's level
is the BAND_QUANTILE of its rows' excess: a knock (10-50 ms in 100-300 Hz) or an airgun's reverberation lifts
most of the 47-188 and 94-375 Hz bands at once and that level with it; a click lifts 0-188 Hz too; a call, a
contour a few rows wide even when loud (a fin whale pulse fills 2-3 of 0-188 Hz's 13 rows), leaves it alone.
Each row loses the highest level of the bands it lies in."""
BAND_QUANTILE = LOCAL_QUANTILE / 100
MIN_BAND_ROWS = 6
BAND_ROWS = 32
"""At most this many of a band's rows (evenly spaced) give its level."""

# --- detectors (each the best value over the clip) --------------------------------------------------------
INFRA_HZ = 40.0
"""Boxes centred below this are the infrasonic ones (fin whale pulses, blue whale B calls), kept apart from the
boxes above (blue whale A calls, gray whale moans, low humpback units); the other detectors look above it."""
SLOPES_HZ_PER_S = (-1000.0, -500.0, -250.0, 250.0, 500.0, 1000.0)
"""Humpback song units (Au et al. 2006: 0.3-4 s, 80 Hz-4 kHz sweeps): straight contours of CONTOUR_SECONDS."""
CONTOUR_SECONDS = 0.375
UPCALL_SLOPES_HZ_PER_S = (120.0, 200.0)
"""Right whale upcalls, slower than the humpback contours: about 1 s rising from 50-110 Hz to 150-250 Hz
(McDonald and Moore 2002, North Pacific: 90 -> 150 Hz in 0.7 s, ~86 Hz/s; NOAA NEFSC: ~100 -> 300 Hz over
~1-2 s; issue 20: ~100-200 Hz/s; the shared NOPP6 recording's upcalls rise at 60-250 Hz/s). A 60 Hz/s contour
(3 rows in 0.75 s) was one too, until SCORE_VERSION 4: close to a flat line, it woke on hum and on tones."""
UPCALL_SECONDS = 0.75
UPCALL_FLAT = 0.5
"""An upcall rises: each upcall contour counts also by how far it stands above the flat line from its first row and
from its last (times this), whichever is higher. A tone (the NOPP6 recording's 2 s tones near 90 Hz, a ship's line
that wavers) fills the flat line at least as well as the slope, an upcall only a part of it."""
UPCALL_BAND_HZ = (40.0, 450.0)
RIDGE_HZ = 47.0
"""A contour counts by how far it stands above the same contour this far above and below it, whichever is
higher: a call is a line a bin or two wide, a transient or a floor rise lifts its neighbours as much."""
TONE_SECONDS = 1.0
TONE_BAND_HZ = (INFRA_HZ, 4000.0)
"""A steady line for a second: humpback tonal units, minke boings (Rankin and Barlow 2005: 2.6-3.6 s,
lines 92-115 Hz apart around 1.4 kHz), a sei or gray whale moan; lines that last minutes are in the floor."""
LOW_HZ = 520.0
BOX_ROWS = 3
LOW_BOXES = (0.5, 1.0, 2.0)
"""Boxes of power over the floor below LOW_HZ, BOX_ROWS rows high (47 Hz at nfft 4096, 12 Hz with the low
preset) and this many seconds long: fin whale 20 Hz pulses (Watkins 1987; Cummings and
Thompson 1994: ~1 s, 25 -> 16 Hz, every 9-21 s), blue whale B calls (~17 Hz with a strong third harmonic
near 50 Hz, ~20 s; Rivers 1997, Stafford's NPAL study) and A calls (pulses at ~1.5/s near 80-90 Hz,
~19 s; NOAA PMEL, Cummings and Thompson 1994); a call cut by the window's edge keeps 0.5 s."""
PULSE_SLOPE_HZ_PER_S = -1700.0
PULSE_SECONDS, PULSE_HZ = 0.064, 47.0
"""A short down-sweeping pulse (minke: 300 -> 100 Hz in 0.12 s) as the spectrogram draws it: a diagonal of ~4 frames
(the 64 ms window blurs the rest) and 3 bins wide, found at full time resolution (pooling would blur it away)."""
PULSE_DB = 2.0
PULSE_GAP_SECONDS = 0.125
PULSE_LOW_HZ = 47.0
"""A pulse is short: its diagonal stands PULSE_DB above the same diagonal PULSE_GAP_SECONDS before and after,
whichever is higher (a fin whale pulse or an upcall lasts a second and is no pulse), and lies above PULSE_LOW_HZ
(minke trains are 100-400 Hz; below, the 15.6 Hz rows hold fin and blue whale calls)."""
TRAIN_SECONDS = (1.0, 2.0)
PERIOD_SECONDS = (0.2, 1.0)
RHYTHM = (0.15, 0.45)
PULSE_GAIN = 2.0
"""Minke pulse trains are regular: 1.5-4.5 pulses/s (Mellinger et al. 2000, 40-60 ms pulses in 200-400 Hz;
the SanctSound SB03_09 and PAMGuard trains at 2-3/s in 100-300 Hz), where knocks come at random. The pulses'
sum over 1 and 2 s counts in proportion to how regular they are: the highest autocorrelation of the clip's
pulse series at a lag in this range and at twice it, mapped from RHYTHM to 0..1: knocks give 0-0.06, the
wind-and-waves clips' thumps 0.04-0.19 (OC02_03's bursts up to 0.36), the SB03_09 minke train 0.23-0.34 and
the bench's synthetic train at 6 dB 0.44. PULSE_GAIN scales the result (a white-noise spread of 0.1, the least
`_noise_calibration` allows, since white noise gives no train): a 6 dB train then stands ~5 spreads up."""

PULSED_BAND_HZ = (60.0, 130.0)
PULSED_SECONDS = (0.4, 1.0)
PULSED_LENGTH = 2.0
"""Blue whale A calls: a tone near 80-90 Hz in pulses of about 0.3 s, ~1.5 a second, for ~19 s (NOAA PMEL:
"a series of pulses, on the order of 1.5 pulses/s"; Cummings and Thompson 1994). A row of this band counts its
mean excess over PULSED_LENGTH s in proportion to how regularly it pulses at a period of PULSED_SECONDS (its
excess's autocorrelation, as the pulse trains'): a steady line (a ship, the NOPP6 recording's 70 Hz tone) and
knocks at random give ~0, so a pulsed tone half the time on is not diluted by its gaps against them."""

DETECTORS = (
    *(f"infra_{s:g}s" for s in LOW_BOXES),
    *(f"box_{s:g}s" for s in LOW_BOXES),
    *(f"pulses_{s:g}s" for s in TRAIN_SECONDS),
    *(f"contour_{s:+g}" for s in SLOPES_HZ_PER_S),
    *(f"upcall_{s:g}" for s in UPCALL_SLOPES_HZ_PER_S),
    "tone",
    "pulsed_tone",
)
"""The detectors' names, in the order of `clip_responses`."""


@dataclass(frozen=True)
class _Kernels:
    pool: int
    offsets: tuple[tuple[int, ...], ...]
    """Per slope, the row offset of each of a contour's pooled columns from its first."""
    contour: int
    upcall_offsets: tuple[tuple[int, ...], ...]
    upcall_rows: tuple[int, int]
    ridge: int
    tone: int
    tone_rows: tuple[int, int]
    low_rows: int
    boxes: tuple[tuple[int, int], ...]
    infra: int
    """Box start indices (from the bottom of the low band) whose boxes are centred below INFRA_HZ."""
    pulse_offsets: tuple[int, ...]
    pulse_rows: int
    pulsed_rows: tuple[int, int]
    pulsed_lags: tuple[int, int]
    pulsed_len: int
    pulse_gap: int
    pulse_skip: int
    """Rows at the bottom of the low band (below PULSE_LOW_HZ) the pulse detector leaves out."""
    trains: tuple[int, ...]
    bands: tuple[tuple[int, int, int, int], ...]
    """Bands: (first row, end row, end of the rows it levels, row step) in the clip's row order (high to low)."""
    lags: tuple[int, int]
    column_seconds: float
    """Seconds between the clip's spectrogram frames."""


def _pow2(x: float) -> int:
    """The power of two nearest to `x` (at least 1): window sums of such lengths double up (`_doublings`)."""
    return 1 << max(0, int(round(np.log2(max(x, 1.0)))))


@lru_cache(maxsize=8)
def _kernels(rs: RenderSettings, rate: int, rows: int, cols: int) -> _Kernels:
    hop = rs.hop / rate
    df = rate / rs.nfft
    lo_bin, _ = bins(rs, rate)
    pool = max(1, int(round(POOL_SECONDS / hop)))
    T = max(1, cols // pool)
    dt = pool * hop

    def row(hz: float) -> int:
        """The row (high to low frequency) of `hz`, within the clip."""
        return int(np.clip(rows - 1 - (round(hz / df) - lo_bin), 0, rows - 1))

    contour = min(T, max(1, int(round(CONTOUR_SECONDS / dt))))
    # a rising frequency is a falling row index
    offsets = tuple(tuple(-int(round(s * dt / df * j)) for j in range(contour)) for s in SLOPES_HZ_PER_S)
    up_len = min(T, max(2, int(round(UPCALL_SECONDS / dt))))
    upcall_offsets = tuple(tuple(-int(round(s * dt / df * j)) for j in range(up_len)) for s in UPCALL_SLOPES_HZ_PER_S)
    bands: list[tuple[int, int, int, int]] = []
    top = row(min(4 * TRANSIENT_LOW_HZ, rs.fmax))
    if rows - top >= MIN_BAND_ROWS:  # 0-188 Hz: its level is what the rows below 47 Hz lose
        bands.append((top, rows, rows, max(1, -(-(rows - top) // BAND_ROWS))))
    f = TRANSIENT_LOW_HZ
    while f < rs.fmax:
        top, bottom = row(min(4 * f, rs.fmax)), row(f) + 1
        if bottom - top >= MIN_BAND_ROWS:
            bands.append((top, bottom, bottom, max(1, -(-(bottom - top) // BAND_ROWS))))
        f *= 2
    return _Kernels(
        pool, offsets,
        contour=contour,
        upcall_offsets=upcall_offsets,
        upcall_rows=(row(UPCALL_BAND_HZ[1]), row(UPCALL_BAND_HZ[0]) + 1),
        ridge=max(1, int(round(RIDGE_HZ / df))),
        tone=_pow2(TONE_SECONDS / dt),
        tone_rows=(row(TONE_BAND_HZ[1]), row(TONE_BAND_HZ[0]) + 1),
        low_rows=max(1, int(round((LOW_HZ - rs.fmin) / df))),
        boxes=tuple((BOX_ROWS, _pow2(sec / dt)) for sec in LOW_BOXES),
        infra=max(0, int(np.floor(INFRA_HZ / df - BOX_ROWS / 2 + 0.5)) - lo_bin + 1),
        pulse_offsets=tuple(int(round(-PULSE_SLOPE_HZ_PER_S * hop / df * j))
                            for j in range(max(1, int(round(PULSE_SECONDS / hop))))),
        pulse_rows=max(1, int(round(PULSE_HZ / df))),
        pulse_gap=max(1, int(round(PULSE_GAP_SECONDS / hop))),
        pulsed_rows=(row(PULSED_BAND_HZ[1]), row(PULSED_BAND_HZ[0]) + 1),
        pulsed_lags=(max(1, int(round(PULSED_SECONDS[0] / dt))), max(2, int(round(PULSED_SECONDS[1] / dt)))),
        pulsed_len=_pow2(PULSED_LENGTH / dt),
        pulse_skip=max(0, int(round(PULSE_LOW_HZ / df)) - lo_bin),
        trains=tuple(_pow2(sec / hop) for sec in TRAIN_SECONDS),
        bands=tuple(bands),
        lags=(max(1, int(round(PERIOD_SECONDS[0] / hop))), max(2, int(round(PERIOD_SECONDS[1] / hop)))),
        column_seconds=hop,
    )


def _over_floor(db: np.ndarray, floor: np.ndarray, k: _Kernels, dc: bool) -> tuple[np.ndarray, np.ndarray]:
    """dB over the floor less what lifts a whole band at once; and the low band as it was before that.

    Per band and frame, the BAND_QUANTILE of the rows' excess plus what it lies under the median on noise
    (LOCAL_OFFSET_DB, as the floor's local term), when positive, is taken off the band's rows:
    clicks, knocks, airgun pulses and their reverberation, rain and a floor risen since the minute around
    all lift most of a band; a call does not. The pulse-train detector gets the low band before that:
    minke pulses are transients too, told from knocks by their rhythm.
    """
    z = db - floor[:, None]
    if dc:  # 0 Hz holds the clip's offset, not sound
        z[-1] = 0.0
    low = z[-min(k.low_rows, z.shape[0]) :].copy()
    lift = np.zeros_like(z)
    for a, b, end, step in k.bands:
        sub = z[a:b:step]
        kth = int(BAND_QUANTILE * (sub.shape[0] - 1))
        level = np.partition(sub, kth, axis=0)[kth] + np.float32(LOCAL_OFFSET_DB)
        np.maximum(lift[a:end], level, out=lift[a:end])
    z -= lift
    return z, low


def clip_responses(db: np.ndarray, floor: np.ndarray, rs: RenderSettings, rate: int) -> np.ndarray:
    """Each detector's best value on the clip (`DETECTORS`), in spreads of its value on white noise.

    `db` is the clip's spectrogram as `render.spectrogram_db` makes it; `floor` is `Floor.at(clip middle)`.
    A clip's score needs its file: `file_scores` puts these on the scale of the file's own windows.
    """
    return clip_peaks(db, floor, rs, rate)[0]


def clip_peaks(db: np.ndarray, floor: np.ndarray, rs: RenderSettings, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """`clip_responses`, and the seconds from the clip's start at which each detector found its best: a day's
    look for sounds that recur at a machine's fixed period (`recurring`) needs when, not only how much."""
    if db.shape[0] != floor.shape[0]:
        raise ValueError(f"spectrogram has {db.shape[0]} rows but the floor {floor.shape[0]}: other render settings?")
    mu, sd = _noise_calibration(rs, rate, db.shape)
    k = _kernels(rs, rate, db.shape[0], db.shape[1])
    z, low = _over_floor(db, floor, k, bins(rs, rate)[0] == 0)
    values, cols = _responses(z, low, k)
    return (values - mu) / sd, cols * k.column_seconds


def _raw(db: np.ndarray, floor: np.ndarray, rs: RenderSettings, rate: int) -> np.ndarray:
    k = _kernels(rs, rate, db.shape[0], db.shape[1])
    z, low = _over_floor(db, floor, k, bins(rs, rate)[0] == 0)
    return _responses(z, low, k)[0]


ONSET = 0.7
"""A detector's time is where its best row first reaches this share of its best: the best itself wanders along a
sound longer than the detector's shape (a 0.8 s chirp holds many 0.375 s contours of the same value), its onset
does not."""


def _best(a: np.ndarray) -> tuple[float, int]:
    """The largest value of `a` (at least 0), and the column where its row first reaches ONSET of it."""
    if a.size == 0:
        return 0.0, 0
    i = int(a.argmax())
    v = float(a.flat[i])
    if v <= 0:
        return 0.0, 0
    row = a.reshape(-1, a.shape[-1])[i // a.shape[-1]]
    return v, int(np.argmax(row >= np.float32(ONSET * v)))


def _responses(z: np.ndarray, q: np.ndarray, k: _Kernels) -> tuple[np.ndarray, np.ndarray]:
    """The detectors on `z` (dB over the floor, transients off; `q` its low band with them), in `DETECTORS` order;
    and the column of each one's best, in the clip's frames."""
    R = z.shape[0]
    T = z.shape[1] // k.pool
    np.clip(z, CLIP_LOW, CLIP_HIGH, out=z)  # in place: `z` is `_over_floor`'s own array
    p = z[:, 0 : T * k.pool : k.pool].copy()
    for i in range(1, k.pool):
        p += z[:, i : T * k.pool : k.pool]
    p *= np.float32(1 / k.pool)
    out: list[float] = []
    at: list[int] = []
    # the low band: mean dB over the floor in boxes of a call's extent (fin, blue), by a summed-area table;
    # the infrasonic boxes (fin, blue B) apart from those above
    low = p[-min(k.low_rows, R) :]
    rows_cs = np.zeros((low.shape[0] + 1, T), dtype=np.float32)
    np.cumsum(low, axis=0, out=rows_cs[1:])
    infra, above, infra_at, above_at = [], [], [], []
    for rows_ in sorted({r for r, _ in k.boxes}):
        r = min(rows_, low.shape[0])
        sums = _doublings(rows_cs[r:] - rows_cs[:-r], max(c for rr, c in k.boxes if rr == rows_))
        n = low.shape[0] - r + 1  # start rows; the last k.infra of them are the lowest boxes
        split = max(0, n - k.infra)
        for rr, cols_ in k.boxes:
            if rr == rows_:
                c = min(cols_, T)
                if c not in sums:
                    infra.append(0.0)
                    above.append(0.0)
                    infra_at.append(0)
                    above_at.append(0)
                    continue
                box = sums[c]
                for values, cols, part in ((infra, infra_at, box[split:]), (above, above_at, box[:split])):
                    v, col = _best(part)
                    values.append(v / (r * c))
                    cols.append(col * k.pool)
    out += infra + above
    at = infra_at + above_at
    # pulse trains (minke): each short down-sweep's mean excess along its diagonal, at full time resolution,
    # counted above PULSE_DB and summed over 1 and 2 s, so that pulses add up instead of being diluted by their
    # gaps; in proportion to how regular they come, since knocks are such pulses too but come at random
    np.clip(q, CLIP_LOW, CLIP_HIGH, out=q)
    q = q[: max(0, q.shape[0] - k.pulse_skip)]
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
        m = (rows_cs[w:] - rows_cs[:-w]) * np.float32(1 / (w * L))
        g = k.pulse_gap
        around = np.full_like(m, CLIP_HIGH)
        if m.shape[1] > 2 * g:
            around[:, g:-g] = np.maximum(m[:, : -2 * g], m[:, 2 * g :])
        pulse = np.maximum(m - np.maximum(around, 0.0) - PULSE_DB, 0.0)
        rhythm = float(np.clip((_regularity(pulse.max(axis=0), k.lags) - RHYTHM[0]) / (RHYTHM[1] - RHYTHM[0]), 0, 1))
        sums = _doublings(pulse, max(k.trains))
        for cols_ in k.trains:
            v, col = _best(sums[cols_]) if cols_ in sums else (0.0, 0)
            out.append(PULSE_GAIN * rhythm * v / cols_)
            at.append(col)
    else:
        out.extend(0.0 for _ in k.trains)
        at.extend(0 for _ in k.trains)
    # the whole band: contours of sweeps (humpback), each against its neighbours as the upcalls are
    L = min(k.contour, T)
    for offs in k.offsets:
        v, col = _ridge(p, offs[:L], 0, R, k.ridge)
        out.append(v)
        at.append(col * k.pool)
    # upcalls: slow rising contours, each against the same contour a ridge's width above and below
    a, b = k.upcall_rows
    for offs in k.upcall_offsets:
        v, col = _ridge(p, offs, a, b, k.ridge, rising=True)
        out.append(v)
        at.append(col * k.pool)
    # a steady line for a second, against its neighbours
    a, b = k.tone_rows
    n = min(k.tone, T)
    sums = _doublings(p[max(0, a - k.ridge) : min(R, b + k.ridge)], n)
    if n in sums:
        s = sums[n]
        r_ = k.ridge
        mid = s[r_ : s.shape[0] - r_] if s.shape[0] > 2 * r_ else s[:0]
        v, col = _best(mid - np.maximum(s[: s.shape[0] - 2 * r_], s[2 * r_ :])) if mid.size else (0.0, 0)
        out.append(v / n)
        at.append(col * k.pool)
    else:
        out.append(0.0)
        at.append(0)
    v, col = _pulsed_tone(p, k)
    out.append(v)
    at.append(col * k.pool)
    return np.asarray(out), np.asarray(at, dtype=np.float64)


def _pulsed_tone(p: np.ndarray, k: _Kernels) -> tuple[float, int]:
    """The best row of PULSED_BAND_HZ: its mean excess over PULSED_LENGTH s times how regularly it pulses; and
    the column where that row's loudest PULSED_LENGTH s start."""
    a, b = k.pulsed_rows
    n = min(k.pulsed_len, p.shape[1])
    if b <= a or n < 2:
        return 0.0, 0
    rows = np.maximum(p[a:b], 0.0)
    sums = _doublings(rows, n)
    if n not in sums:
        return 0.0, 0
    level = sums[n].max(axis=1) / n
    best, at = 0.0, 0
    span = 2 * k.pulsed_lags[1]  # the row's level over two of the longest periods, taken off: pulses stay,
    kernel = np.ones(span, dtype=np.float32) / span  # a tone with a gap or two does not
    for i in np.argsort(level)[::-1][:2]:  # the two loudest rows: a call's, and its neighbour
        row = rows[i] - np.convolve(rows[i], kernel, mode="same")
        rhythm = float(np.clip((_regularity(row, k.pulsed_lags) - RHYTHM[0]) / (RHYTHM[1] - RHYTHM[0]), 0, 1))
        if rhythm * float(level[i]) > best:
            best, at = rhythm * float(level[i]), _best(sums[n][i])[1]
    return best, at


def _ridge(p: np.ndarray, offs: tuple[int, ...], a: int, b: int, ridge: int,
           rising: bool = False) -> tuple[float, int]:
    """The best mean of `p` along a contour starting in rows a..b-1 (row offsets `offs`), less the higher of
    the same contour `ridge` rows above and below; and the column where it starts. `rising`: less also the
    higher of the flat lines from its first and its last row (`UPCALL_FLAT`)."""
    R, L = p.shape[0], len(offs)
    if p.shape[1] < L:
        return 0.0, 0
    lo = max(a, ridge - min(offs), 0)
    hi = min(b, R - ridge - max(offs))
    if hi <= lo:
        return 0.0, 0
    c = _contour(p, offs, lo - ridge, hi + ridge)
    mid = c[ridge : c.shape[0] - ridge]
    d = mid - np.maximum(c[: c.shape[0] - 2 * ridge], c[2 * ridge :])
    if rising:
        rise = -offs[-1]  # rows from the first to the last column (a rising contour climbs to lower rows)
        flat = _contour(p, (0,) * L, lo - rise, hi)
        d -= np.float32(UPCALL_FLAT) * np.maximum(flat[rise:], flat[: hi - lo])
    v, col = _best(d)
    return (v if v > 0 else float(d.max())) / L, col


def _regularity(series: np.ndarray, lags: tuple[int, int]) -> float:
    """How steadily pulses come: the best, over a lag in `lags` (frames), of the smaller of the autocorrelation
    of `series` (mean removed) at that lag and at twice it. Near 1 for three or more pulses at a steady rate;
    near 0 for one or two pulses or pulses at random; never below 0."""
    lo, hi = lags
    n = len(series)
    if 2 * hi >= n:
        hi = (n - 1) // 2
    if hi < lo:
        return 0.0
    e = series - series.mean()
    power = float(e @ e)
    if power <= 1e-6:
        return 0.0
    spec = np.fft.rfft(e, 2 * n)
    ac = np.fft.irfft(spec.real**2 + spec.imag**2)[: 2 * hi + 1] / power
    return max(0.0, float(np.minimum(ac[lo : hi + 1], ac[2 * lo : 2 * hi + 1 : 2]).max()))


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
"""Pure noise the detectors are first scaled on: 30 clips, with the floor made as for a file. A spread under
0.1 (a detector that white noise never wakes, as the pulse trains') is taken as 0.1."""


@lru_cache(maxsize=8)
def _noise_calibration(rs: RenderSettings, rate: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Each detector's mean and spread of its best value on clips of white noise, to put them on one scale
    before a file's own windows do (`file_scores`); the spread is also the least a file's may be."""
    from .render import spectrogram_db

    rng = np.random.default_rng(20151)
    clip = int(round((shape[1] - 1) * rs.hop + rs.nfft))
    n_clips = max(8, int(CALIBRATION_SECONDS * rate // clip))
    x = rng.standard_normal(n_clips * clip).astype(np.float32) * 1000
    floor = file_floor([(0, x)], rs, rate)
    r = np.array([
        _raw(spectrogram_db(x[i * clip : (i + 1) * clip], rs, rate), floor.at((i + 0.5) * clip / rate), rs, rate)
        for i in range(n_clips)
    ])
    return r.mean(axis=0), np.maximum(r.std(axis=0), 0.1)


FILE_WINDOWS = 24
"""A file's own windows set each detector's scale once it has this many (two minutes); fewer are blended
with white noise's scale in proportion."""
MAD_TO_SD = 1.4826
IQR_TO_SD = 1.349
SERIES_TO_SD = 1.2816
"""The boxes' spread is also read from the 90th percentile: the low-frequency calls they look for come in
series. Fin whales pulse every 7-40 s for hours (Watkins 1987; Cummings and Thompson 1994; the NOPP6
recording's every 7.5 and 15 s); blue whales sing A and B calls of ~20 s each, a phrase every one to two
minutes for hours (Cummings and Thompson 1994; NOAA PMEL), so a file with a song has A calls, which the
boxes above INFRA_HZ see, in 4-5 windows of every 24 or so. A file with a series has them in over a tenth of
its windows and they are that file's background; a fin pulse, a blue whale B call or A call alone stands out.
The same holds for what else fills a tenth of a file's windows in their band: a tone a machine or a ship
sounds again and again (the NOPP6 recording's tones near 70-90 Hz), a line's wobble under hum. Until
SCORE_VERSION 5 only the infrasonic boxes (bench/real.py: ROC AUC 0.921 -> 0.931, the right whale day's top K
from its half without right whales 26 % -> 15 %)."""
"""A spread is the larger of the median absolute deviation's and the interquartile range's: both read a normal
spread the same way, but the quartiles also see a detector that fires in a quarter to a half of the file's
windows (a fin whale series every 15 s, a sonar for two minutes, knocks in bursts), which the median's
deviation, on the quiet windows, does not. Not the upcall detectors': right whales call in bouts (the NOPP6
recording's second file holds upcalls in 19 of its 60 windows), which the quartiles would take for the file's
spread, lowering every call of the bout; what else wakes them (tones, streaks) the flat-line check
(`UPCALL_FLAT`) and the median's deviation hold down."""
REAL_SPREAD: dict[str, float] = {"box_1s": 1.05, "box_2s": 1.51, "pulses_1s": 2.19, "pulses_2s": 1.51,
                                  "tone": 1.17, "pulsed_tone": 2.05}
"""The least spread of a detector on a real sea, in white noise's spreads, where it is more than one: the 99th
percentile of each detector's values on the file's scale (over its median and spread) on the real backgrounds
of bench/real.py (a soundscape, wind, a ship: 4,951 windows), over 2.33, where a normal spread's lies. So each
detector gives a real sea's top 1 % about the same values; on white noise alone the two-second boxes and the
pulse trains would make most of a quiet file's top windows (slow swells of low-frequency noise, thumps)."""
KNEE = 5.0
"""Values above KNEE spreads are compressed to KNEE * (1 + ln(z / KNEE)): a very loud call of one kind (a fin
whale pulse 80 spreads up) still ranks first, but not so far ahead that the next day's quieter calls of
another kind never reach volunteers, and no one detector's heavy tail decides a file."""


def _compress(z: np.ndarray) -> np.ndarray:
    return np.where(z > KNEE, KNEE * (1 + np.log(np.maximum(z, KNEE) / KNEE)), z)


def file_scores(responses: Mapping[int, np.ndarray]) -> dict[int, float]:
    """Call scores of a file's windows from their `clip_responses`: each detector in spreads of its own values
    over the file's windows (median, and the spread of the median absolute deviation, the quartiles or, for the
    boxes, the 90th percentile), compressed above KNEE, the best.

    A detector that fires in most windows of a file (a pulse detector on knocks throughout, a tone detector on
    a chain's rattle) has a high median and a wide spread there, and adds little to that file's ranking; one
    that is quiet but for a few windows makes those stand out. A spread is never taken below white noise's
    (nor REAL_SPREAD's), so a file of pure noise scores as on white noise.
    """
    if not responses:
        return {}
    keys = list(responses)
    z = file_detector_scores(np.array([responses[k] for k in keys], dtype=np.float64)).max(axis=1)
    return {k: round(float(v), 3) for k, v in zip(keys, z, strict=True)}


def file_detector_scores(u: np.ndarray) -> np.ndarray:
    """Each window's (rows) value of each detector (columns) on the file's scale, compressed:
    the score is each row's best (`file_scores`); bench/real.py reads which detector won."""
    q25, med, q75, q90 = np.percentile(u, (25, 50, 75, 90), axis=0)
    mad = MAD_TO_SD * np.median(np.abs(u - med), axis=0)
    spread = np.maximum(np.maximum(mad, (q75 - q25) / IQR_TO_SD), _real_spread())
    bouts = _bout_detectors()
    spread[bouts] = np.maximum(mad[bouts], _real_spread()[bouts])
    series = _series_detectors()
    spread[series] = np.maximum(spread[series], (q90[series] - med[series]) / SERIES_TO_SD)
    w = min(1.0, len(u) / FILE_WINDOWS)
    centre, scale = w * med, w * spread + (1 - w) * _real_spread()
    return _compress((u - centre) / scale)


PEAK_SCORE = KNEE
"""A detector at or above this on its file's scale (where calls begin) is a peak: kept with when it came, for the
day's look at what recurs (`recurring`)."""


@dataclass(frozen=True)
class Peaks:
    """A window's detectors at or above PEAK_SCORE: name -> (value on the file's scale, when the detector found
    its best: seconds since the day's midnight); `rest` the best value of the others, what the window scores
    without them."""

    found: dict[str, tuple[float, float]]
    rest: float


def file_peaks(responses: Mapping[int, np.ndarray], seconds: Mapping[int, np.ndarray]) -> dict[int, Peaks]:
    """The peaks (`Peaks`) of a file's windows from their `clip_peaks`, `seconds` each detector's time (seconds
    since midnight, as `Peaks` keeps them); windows without one are left out."""
    keys = list(responses)
    if not keys:
        return {}
    z = file_detector_scores(np.array([responses[k] for k in keys], dtype=np.float64))
    out = {}
    for row, k in zip(z, keys, strict=True):
        hit = row >= PEAK_SCORE
        if hit.any():
            out[k] = Peaks({DETECTORS[i]: (round(float(row[i]), 3), round(float(seconds[k][i]), 3))
                            for i in np.flatnonzero(hit)},
                           round(float(row[~hit].max(initial=-KNEE)), 3))
    return out


@lru_cache(maxsize=1)
def _bout_detectors() -> np.ndarray:
    return np.array([name.startswith("upcall") for name in DETECTORS])


@lru_cache(maxsize=1)
def _series_detectors() -> np.ndarray:
    return np.array([name.startswith(("infra", "box")) for name in DETECTORS])


@lru_cache(maxsize=1)
def _real_spread() -> np.ndarray:
    return np.array([max(1.0, REAL_SPREAD.get(name, 1.0)) for name in DETECTORS])


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
