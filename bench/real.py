"""How the call score ranks real whale calls against real ocean noise; ends with one JSON line of figures.

    .venv/bin/python -m bench.real                       # ~10 minutes on 2 shared cores, the first time
    .venv/bin/python -m bench.real --levels 0 -6 -12     # docs, "The score"
    .venv/bin/python -m bench.real --noise insert        # lasting noise as its bare 5-30 s clip

The recordings are `../shared/realdata` (its README and PROVENANCE.txt files; kept out of this
repository, `--realdata` or $WHALEDR_REALDATA points elsewhere): NOAA SanctSound example clips (one label
per clip, no start or end times) and PAMGuard's example sounds. What the bench makes of them:

- Each clip is read at its own rate, high-passed at 5 Hz (a 4th-order Butterworth, both ways: many
  SanctSound clips carry a sub-10 Hz drift that holds most of their energy), resampled to 64 kHz and
  tapered over 50 ms at both ends.
- Its level: at the "recorded level" (0 dB) the clip's own noise floor (the median over 64 ms frames of
  its power in 20 Hz-1 kHz, or up to 0.45 of its rate) equals the background's, so a call keeps the
  signal-to-noise ratio it was recorded with; `--levels -6 -12` lower the clip under that. The clip is
  added to the background: at 0 dB the floor under a clip is 3 dB above the background's around it
  (less than 1 dB at -6 dB), for calls and noise alike.
- Backgrounds (`BACKGROUNDS`): the one soundscape whose caption names no baleen whale
  (PM05_01_Soundscape), a wind clip (CI02_03, 30 s, with its own regular low-frequency thumps) and a
  large ship (CI05_03), each made 5 minutes long by chaining random 1.5-3 s pieces of it with
  equal-power crossfades. Every clip goes into every background but its own.
- Noise placement (`--noise`): lasting noise (vessels, rain, wind) is a passage, the clip chained the same
  way to 2 minutes with 10 s fades, scored on the windows of its middle that the bare clip would cover
  (default; a real ship passage or shower lasts minutes, and a 5-10 s ship clip shows tonal lines the
  score's one-minute floor has never seen); `insert` places the bare clip as calls are placed.
  Transient noise (explosions, seal bombs, sonar, an acoustic release, an unknown impulse) and other
  animals (killer and sperm whales, dolphins, midshipman fish, snapping shrimp) are inserted as recorded.
- Counted once: recordings that come twice at another gain (`DUPLICATES`, each checked to correlate
  at 0.998-1.0 with its twin, or cut from the same minute of the same hum); clips with no label
  (`ExemplarSTD`) are left out. The four soundscapes whose captions name humpback song count as humpback.

The code path is a day's: every (background, level) pair is a day of OOI-style 5-minute files
(64 kHz int32 Steim2 miniSEED, one trace, a start 15 us after the second, as `whaledr synth` writes),
planned by `clips.plan_day` and run file by file through `fileclips.process_file` with
`render_only=frozenset()`: what a worker does in the first pass of a day with a top budget (decode,
floor, spectrogram, score of every window, the file's calibration), storing nothing. Not `whaledr run`
over a mirror: its server, pool and downloads add minutes and nothing to the scores, which
`process_file` makes in the worker. The files are kept under `--work` (about 7 GB for the three levels and
backgrounds: delete it when done) and made again only when the layout changes.

What is ranked (a "unit"): a clip, scored by its best window (its label says only that the call is
somewhere in it); each background window at least a window away from every clip is a unit too.
Figures, per level: ROC AUC of whale clips against noise clips, per species (that species against all
noise) and per noise class (all whales against that class); per day, recall@K with K = the whale clips
in the day, and the share of the top K that is noise clips or background windows. Beside the score,
the classic band-energy detector on the same windows: mean power in 45-310 Hz per window, in dB over
its file's median (issue 20's), and the same over 20-1000 Hz (the realdata README's).
`HELD_OUT` clips were not looked at while tuning the score: their figures are printed apart.

Two real recordings run as days of their own:
- `right`: PAMGuard's 15-minute Massachusetts Bay recording (NOPP6_EST_20090329_121500, 2 kHz, DCLDE 2013
  data, shipped without annotations) as three files, upsampled to 64 kHz as is (nothing above 1 kHz), then
  three files of the same sea without right whales (its windows free of upcalls, reordered). `UPCALLS` are
  the right whale upcalls we marked by eye on its spectrogram (0-400 Hz, 128 ms frames): recall@K of their
  windows (K their number) and the share of the top K from the half without right whales, as issue 20's
  check counts them. This day was tuned on as a whole: it has no held-out part.
- `knocks`: a 10-minute day of irregular 10-50 ms knocks in 100-300 Hz over the PM05_01 background, with
  the real fin whale series (CI05_04) and blue whale B calls (CI05_03) in it, and one blue whale A call
  made from its published description (`events.waveform`, kind "blue_a": no A call is in the shared set):
  how many of the A call's windows are in the day's top 10 %, for the score and band energy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from whaledr_core import events as ev
from whaledr_core import listing, recurring
from whaledr_core.clips import ClipSettings, plan_day
from whaledr_core.fileclips import process_file
from whaledr_core.render import RenderSettings
from whaledr_core.score import Peaks
from whaledr_core.sinks import LocalSink

RATE = 64_000
CLIP = 5
FILE = 300
DAY = dt.date(2019, 1, 12)
NODE = "LJ01D"
HP_HZ = 5.0
TAPER_S = 0.05
LEVEL_BAND = (20.0, 1000.0)
BANDS = {"band_45_310": (45.0, 310.0), "band_20_1000": (20.0, 1000.0)}
"""The band-energy detectors: issue 20's band, and the realdata README's."""

SPECIES = ("humpback", "fin", "blue", "minke", "right", "sei", "gray")
NOISE = ("vessel", "impulse", "sonar", "rain", "wind", "animals")
LASTING = ("vessel", "rain", "wind")

# File name (without .wav) -> label. A species is a whale clip; a noise class is a noise clip.
CATALOGUE: dict[str, str] = {
    # humpback
    "sanctsound/SanctSound_CI02_01_HumpbackWhale_20181103T074755": "humpback",
    "sanctsound/SanctSound_CI02_05_humpbackwhale_20201014T134715Z": "humpback",
    "sanctsound/SanctSound_HI01_01_humpbackwhale_20190216T045823Z": "humpback",
    "sanctsound/SanctSound_MB01_05_humpbackwhale_20200721T103355Z": "humpback",
    "sanctsound/SanctSound_PM02_01_humpbackwhale_20200227T220002Z": "humpback",
    "sanctsound/SanctSound_SB03_04_humpbackwhale_20190623T004507Z": "humpback",
    "sanctsound/SanctSound_SB03_05_humpbackwhale_20190909T213108Z": "humpback",
    "sanctsound/SanctSound_HI01_01_Soundscape_20190216T045823Z": "humpback",  # caption: humpback songs, shrimp
    "sanctsound/SanctSound_HI03_01_Soundscape_20190105T084747Z": "humpback",  # a small boat and singing humpbacks
    "sanctsound/SanctSound_PM01_01_Soundscape_20200331103927Z": "humpback",  # humpback chorusing, shrimp, dolphins
    "sanctsound/SanctSound_PM02_02_Soundscape_20201226093002Z": "humpback",  # humpback song and snapping shrimp
    "pamguard/Humpback_whale": "humpback",
    # fin, blue, minke, right, sei, gray
    "sanctsound/SanctSound_CI05_04_finwhale_20191228T134133Z": "fin",
    "sanctsound/SanctSound_OC02_02_finwhale_20190905T020206Z": "fin",
    "sanctsound/SanctSound_CI05_03_bluewhale_20190926T230959Z": "blue",
    "sanctsound/SanctSound_MB01_01_bluewhale_20181123T203257Z": "blue",
    "pamguard/Blue_whale": "blue",
    "sanctsound/SanctSound_HI03_02_minkewhale_20191210T055810Z": "minke",  # boing
    "sanctsound/SanctSound_PM05_01_minkewhale_20200226T113612Z": "minke",  # boing
    "sanctsound/SanctSound_SB03_09_minkewhale_20200502T012119Z": "minke",  # pulse train
    "pamguard/Minke_whale": "minke",  # pulse train
    "sanctsound/SanctSound_GR01_01_northatlanticrightwhale_20181227T060148Z": "right",
    "sanctsound/SanctSound_SB01_01_northatlanticrightwhale_20181120T090303Z": "right",
    "pamguard/right_whale_example": "right",
    "pamguard/southern_right_whale_clip1": "right",
    "pamguard/southern_right_whale_clip2": "right",
    "sanctsound/SanctSound_SB02_03_seiwhale_20190402T203828Z": "sei",
    "sanctsound/SanctSound_CI02_02_graywhale_20190425T012924Z_33dBgain": "gray",
    "sanctsound/SanctSound_MB01_05_graywhale_20200418T074228Z_40dBgain": "gray",
    "sanctsound/SanctSound_OC02_01_graywhale_20190401T051313Z_36dBgain": "gray",
    # noise: vessels
    "sanctsound/SanctSound_CI01_03_smallboat_20190825T191712Z": "vessel",
    "sanctsound/SanctSound_CI05_03_largeship_20190925T135956Z": "vessel",
    "sanctsound/SanctSound_FK01_01_vessel_20190312T170945Z": "vessel",
    "sanctsound/SanctSound_GR01_01_vessel_20181217T204109Z": "vessel",
    "sanctsound/SanctSound_HI01_02_smallboat_20191201T000002Z": "vessel",
    "sanctsound/SanctSound_HI04_02_largeboat_20200124T235131Z": "vessel",
    "sanctsound/SanctSound_MB01_05_ship_20200424T171317Z": "vessel",
    "sanctsound/SanctSound_OC01_03_ship_20191106T223751": "vessel",
    "sanctsound/SanctSound_SB03_09_vessel_20200415T161235Z": "vessel",
    "sanctsound/SanctSound_OC02_02_OdontoceteandShip_20190807T165513": "vessel",  # a vessel and dolphin whistles
    # impulses, sonar
    "sanctsound/SanctSound_FK03_01_explosion_20190131T220530Z": "impulse",
    "sanctsound/SanctSound_CI05_02_sealbomb_20190405T110516Z": "impulse",
    "sanctsound/SanctSound_MB01_05_sealbomb_20200619T064138Z_33dBgain": "impulse",
    "sanctsound/SanctSound_OC02_02_sealbomb_20190816T123736Z_24dB": "impulse",
    "sanctsound/SanctSound_HI04_02_unknownimpulse_20200115T235244Z": "impulse",
    "sanctsound/SanctSound_CI05_01_LFAsonar_20181109T202439Z": "sonar",
    "sanctsound/SanctSound_CI04_04_acousticrelease_20200202T071340Z": "sonar",
    # rain, wind and waves
    "sanctsound/SanctSound_FK02_03_rain_20191103T005156Z": "rain",
    "sanctsound/SanctSound_GR01_02_rain_20190619T183750Z": "rain",
    "sanctsound/SanctSound_HI03_02_Rain_20200210T201517Z": "rain",
    "sanctsound/SanctSound_PM05_01_rain_20191011T033002Z": "rain",
    "sanctsound/SanctSound_SB03_09_rain_20200409T194223Z": "rain",
    "sanctsound/SanctSound_CI02_03_wind_20191026T155434Z": "wind",
    "sanctsound/SanctSound_FK02_03_windwaves_20191222T031830Z": "wind",
    "sanctsound/SanctSound_GR03_04_windwaves_20191224T155152Z": "wind",
    "sanctsound/SanctSound_HI04_03_windwaves_20201220115634Z_36dBgain": "wind",
    "sanctsound/SanctSound_MB02_04_wind_20200101T225838Z_36dBgain": "wind",
    "sanctsound/SanctSound_OC02_03_wind_20191205T223352Z_50dBgain": "wind",
    "sanctsound/SanctSound_PM05_01_windwaves_20191113T090002Z_18dBgain": "wind",
    "sanctsound/SanctSound_SB03_13_windwaves_20210105T213524Z": "wind",
    # other animals
    "sanctsound/SanctSound_MB01_05_killerwhale_20200423T164427Z": "animals",
    "sanctsound/SanctSound_OC03_02_killerwhale_20191128T091339Z": "animals",
    "sanctsound/SanctSound_HI03_02_SpermWhale_20191216T115715Z": "animals",
    "sanctsound/SanctSound_CI01_02_plainfinmidshipman_20190426T085921Z": "animals",
    "sanctsound/SanctSound_MB02_05_plainfinmidshipman_20200606T041700Z": "animals",
    "sanctsound/SanctSound_FK02_01_atlanticmidshipmanandsnappingshrimp_20190313T073628Z": "animals",
}
DUPLICATES = {
    "sanctsound/SanctSound_CI02_05_humpbackwhale_20201014T134715Z_28dBgain": "CI02_05 humpback +11 dB (corr 1.000)",
    "sanctsound/SanctSound_CI05_01_LFA_amp30dB_20181109T202439Z": "CI05_01 LFA sonar +19 dB",
    "sanctsound/SanctSound_CI05_02_SealBomb_20190405T110516": "CI05_02 seal bomb +24 dB (corr 0.998)",
    "sanctsound/SanctSound_CI05_03_largeship_20190925T135956Z_44dBgain": "CI05_03 large ship +9 dB (corr 0.998)",
    "sanctsound/SanctSound_FK02_01_671117353_190313073628_AtlanticMidshipman": "FK02_01 midshipman (corr 1.000)",
    "sanctsound/SanctSound_CI01_02_plainfinmidshipman__amp40dB_20190426T085831Z": "CI01_02 midshipman, 50 s before",
}
UNLABELLED = ("ExemplarSTD",)
BACKGROUNDS = {
    "soundscape": "sanctsound/SanctSound_PM05_01_Soundscape_20191005T193002Z",
    "wind": "sanctsound/SanctSound_CI02_03_wind_20191026T155434Z",
    "ship": "sanctsound/SanctSound_CI05_03_largeship_20190925T135956Z",
}
HELD_OUT = frozenset({
    "sanctsound/SanctSound_SB03_04_humpbackwhale_20190623T004507Z",
    "sanctsound/SanctSound_PM02_01_humpbackwhale_20200227T220002Z",
    "sanctsound/SanctSound_PM02_02_Soundscape_20201226093002Z",
    "sanctsound/SanctSound_OC02_02_finwhale_20190905T020206Z",
    "sanctsound/SanctSound_MB01_01_bluewhale_20181123T203257Z",
    "sanctsound/SanctSound_PM05_01_minkewhale_20200226T113612Z",
    "pamguard/Minke_whale",
    "sanctsound/SanctSound_SB01_01_northatlanticrightwhale_20181120T090303Z",
    "pamguard/southern_right_whale_clip2",
    "sanctsound/SanctSound_OC02_01_graywhale_20190401T051313Z_36dBgain",
    "sanctsound/SanctSound_SB03_09_vessel_20200415T161235Z",
    "sanctsound/SanctSound_HI04_02_largeboat_20200124T235131Z",
    "sanctsound/SanctSound_OC02_02_sealbomb_20190816T123736Z_24dB",
    "sanctsound/SanctSound_CI04_04_acousticrelease_20200202T071340Z",
    "sanctsound/SanctSound_SB03_09_rain_20200409T194223Z",
    "sanctsound/SanctSound_HI03_02_Rain_20200210T201517Z",
    "sanctsound/SanctSound_SB03_13_windwaves_20210105T213524Z",
    "sanctsound/SanctSound_GR03_04_windwaves_20191224T155152Z",
    "sanctsound/SanctSound_OC03_02_killerwhale_20191128T091339Z",
    "sanctsound/SanctSound_FK02_01_atlanticmidshipmanandsnappingshrimp_20190313T073628Z",
})
"""About a third of each class, fixed: never looked at while the score was tuned (sei has one clip: tuned on)."""

RIGHT_DAY = "pamguard/NOPP6_EST_20090329_121500"
UPCALLS = (
    (102.6, 103.6), (126.8, 127.3), (128.6, 129.4), (131.6, 132.8), (163.0, 163.6), (168.3, 169.2), (171.2, 172.6),
    (180.3, 181.4), (212.4, 213.6), (226.0, 226.5), (249.6, 250.6), (252.2, 253.0), (253.8, 255.0), (277.7, 279.2),
    (308.3, 309.3), (311.2, 312.3), (330.3, 331.8), (347.5, 348.4), (350.2, 351.2), (366.8, 368.2), (403.3, 404.5),
    (418.5, 419.9), (438.8, 440.0), (443.3, 444.8), (461.8, 462.5), (464.0, 464.8), (468.8, 469.8), (486.6, 487.5),
    (487.5, 488.4), (501.5, 502.4), (502.6, 503.3), (503.7, 504.5), (510.6, 511.5), (526.2, 527.4), (541.5, 542.4),
    (544.6, 545.3), (556.5, 557.5), (558.5, 559.3), (563.0, 564.0), (630.2, 631.2), (653.2, 654.3), (658.2, 659.3),
    (699.0, 700.2), (754.8, 756.0), (781.4, 782.5), (797.5, 798.3), (817.8, 818.9), (860.0, 860.6),
)
"""Right whale upcalls in NOPP6_EST_20090329_121500 marked by eye (start and end, seconds into the recording):
rising contours of 0.5-1.5 s from 60-140 Hz to 150-330 Hz on a 2 kHz spectrogram (256-point frames,
16-sample hop, 0-400 Hz). Not marked: the short broadband streaks (50-400 Hz, under 0.5 s) that come
every few seconds, the 7 s tone near 70 Hz every 3 minutes (each after a streak), the fin whale 20 Hz
pulses every 7-15 s."""
UNSURE = ((12.6, 13.3), (302.6, 303.5), (565.2, 565.8), (608.3, 608.9), (790.8, 791.5))
"""Faint or odd rising sounds we could not call upcalls: their windows are left out of the right day's ranking."""
PINGS = (155.109, 335.291, 515.513, 695.786, 875.98)
"""A pinger's chirps (380 -> 680 Hz in ~0.8 s) in NOPP6_EST_20090329_121500, seconds into the recording: the peaks
of a matched filter (a Hann-windowed linear chirp, on the recording band-passed to 350-720 Hz) over 8 times its
median, at least 20 s apart. One every 180.2 s; a tone of a few seconds near 70 Hz follows each."""
TAIL_SECONDS = 2.5
"""An upcall's mark ends where its rise does; a tail (NOPP6 at 503.7 s: a faint flat part to ~507 s) or an echo can
follow for a second or two: the windows it reaches are not copied into the half without right whales."""
HALF_SECONDS = 450.0
"""The right day's figures are also given for each half of the recording's time: the first half (0-450 s) was
looked at while tuning the day-wide look for recurring sounds (`whaledr_core.recurring`), the second was not."""
KNOCKS_FIN = "sanctsound/SanctSound_CI05_04_finwhale_20191228T134133Z"
KNOCKS_BLUE = "sanctsound/SanctSound_CI05_03_bluewhale_20190926T230959Z"


def default_realdata() -> Path:
    env = os.environ.get("WHALEDR_REALDATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]
    for up in (here.parent, here.parent.parent):
        if (up / "shared" / "realdata").is_dir():
            return up / "shared" / "realdata"
    return here.parent / "shared" / "realdata"


# --- sound ------------------------------------------------------------------------------------------------


def load(root: Path, name: str) -> tuple[np.ndarray, int]:
    """A clip at 64 kHz, float64, high-passed at HP_HZ and tapered at both ends; and its own rate."""
    import soundfile as sf
    from scipy import signal

    x, rate = sf.read(root / f"{name}.wav", dtype="float64", always_2d=True)
    x = x[:, 0]
    sos = signal.butter(4, HP_HZ / (rate / 2), "high", output="sos")
    x = signal.sosfiltfilt(sos, x)
    g = np.gcd(RATE, rate)
    x = signal.resample_poly(x, RATE // g, rate // g)
    n = int(TAPER_S * RATE)
    ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x, rate


def floor_level(x: np.ndarray, own_rate: int) -> float:
    """The clip's noise floor: the median over 64 ms frames of its power in LEVEL_BAND (to 0.45 of its rate)."""
    n = 4096
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[:: n // 2]
    spec = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1 / RATE)
    band = (f >= LEVEL_BAND[0]) & (f <= min(LEVEL_BAND[1], 0.45 * own_rate))
    return float(np.median(spec[:, band].mean(axis=1)))


def chain(x: np.ndarray, seconds: float, rng: np.random.Generator, fade: float = 0.25) -> np.ndarray:
    """`seconds` of random 1.5-3 s pieces of `x` joined by equal-power crossfades of `fade` s."""
    n, f = int(seconds * RATE), int(fade * RATE)
    out = np.zeros(n + f)
    at = 0
    ramp = np.sin(np.linspace(0, np.pi / 2, f))
    while at < n:
        size = min(len(x), int(rng.uniform(1.5, 3.0) * RATE))
        a = int(rng.integers(0, len(x) - size + 1))
        piece = x[a : a + size].copy()
        piece[:f] *= ramp
        piece[-f:] *= ramp[::-1]
        b = min(at + size, len(out))
        out[at:b] += piece[: b - at]
        at += size - f
    return out[:n]


# --- days -------------------------------------------------------------------------------------------------


@dataclass
class Unit:
    """Something ranked: a clip (its windows) or a background window."""

    day: str
    windows: list[int]
    group: str
    """"whale", "noise" or "background"."""
    label: str
    clip: str = ""
    held_out: bool = False


@dataclass
class Day:
    name: str
    files: list[np.ndarray] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)


def items(root: Path) -> list[tuple[str, str]]:
    """(name, label) of every clip counted, in catalogue order; checks that the folder holds what we expect."""
    present = {str(p.relative_to(root))[:-4] for p in root.glob("*/*.wav")}
    missing = sorted(set(CATALOGUE) - present)
    if missing:
        raise SystemExit(f"not in {root}: {', '.join(missing)}")
    unknown = sorted(p for p in present - set(CATALOGUE) - set(DUPLICATES) - {RIGHT_DAY, *BACKGROUNDS.values()}
                     if not any(u in p for u in UNLABELLED))
    if unknown:
        raise SystemExit(f"clips with no label in the bench's catalogue: {', '.join(unknown)}")
    return list(CATALOGUE.items())


def build_day(root: Path, background: str, level_db: float, noise: str, seed: int,
              cache: dict[str, tuple[np.ndarray, int]]) -> Day:
    """Every clip but the background's own, at `level_db` under its recorded level, in 5-minute files."""
    rng = np.random.default_rng([seed, sorted(BACKGROUNDS).index(background), int(level_db * 10) + 1000])

    def get(name: str) -> tuple[np.ndarray, int]:
        if name not in cache:
            cache[name] = load(root, name)
        return cache[name]

    bg, bg_rate = get(BACKGROUNDS[background])
    bg_floor = floor_level(bg, bg_rate)
    todo = [(n, lab) for n, lab in items(root) if n != BACKGROUNDS[background]]
    rng.shuffle(todo)  # type: ignore[arg-type]
    day = Day(f"{background}{level_db:+g}dB")
    placed: list[tuple[int, int, str, str]] = []  # (first sample, end sample, name, label) in the day
    spans: list[tuple[int, int]] = []
    t = 10 * RATE
    signal: list[tuple[int, np.ndarray]] = []
    for name, label in todo:
        x, own = get(name)
        x = x * np.sqrt(bg_floor / max(floor_level(x, own), 1e-30)) * 10 ** (level_db / 20)
        passage = noise == "passage" and label in LASTING
        if passage:
            body = chain(x, 120.0, rng)
            fade = np.clip(np.minimum(np.arange(len(body)), len(body) - np.arange(len(body))) / (10 * RATE), 0, 1)
            body *= np.sin(fade * np.pi / 2)
            mid = (len(body) - len(x)) // 2
            scored = (mid, mid + len(x))
        else:
            body, scored = x, (0, len(x))
        need = len(body) + 20 * RATE
        if t % (FILE * RATE) + need > FILE * RATE - 10 * RATE:  # to the next file: nothing straddles files
            t = (t // (FILE * RATE) + 1) * FILE * RATE + 10 * RATE
        start = t + int(rng.integers(0, 5 * RATE))
        signal.append((start, body))
        spans.append((start, start + len(body)))
        placed.append((start + scored[0], start + scored[1], name, label))
        t = start + need
    n_files = t // (FILE * RATE) + 1
    for i in range(n_files):
        day.files.append(chain(bg, FILE, np.random.default_rng([seed, i, len(background)])))
    for start, body in signal:
        f, a = divmod(start, FILE * RATE)
        day.files[f][a : a + len(body)] += body
    W = CLIP * RATE
    for a, b, name, label in placed:
        group = "whale" if label in SPECIES else "noise"
        day.units.append(Unit(day.name, list(range(a // W, (b - 1) // W + 1)), group, label, name, name in HELD_OUT))
    busy = {k for a, b in spans for k in range(a // W - 1, (b - 1) // W + 2)}
    for k in range(n_files * FILE // CLIP):
        if k not in busy and k % (FILE // CLIP) != 0:
            day.units.append(Unit(day.name, [k], "background", "background"))
    scale = 1e4 / np.sqrt(bg_floor * 2 / 4096 / 0.375)  # about 1e4 counts of background rms below 1 kHz
    day.files = [np.clip(np.round(x * scale), -(2**31), 2**31 - 1).astype(np.int32) for x in day.files]
    return day


def write_files(folder: Path, files: Sequence[np.ndarray]) -> list[Path]:
    """OOI-style miniSEED files of 5 minutes from midnight: one trace, Steim2, 4096-byte records."""
    from obspy import Stream, Trace, UTCDateTime

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, data in enumerate(files):
        start = dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC) + dt.timedelta(seconds=i * FILE,
                                                                                            microseconds=15)
        path = folder / f"OO-HYEA2--YDH-{start:%Y-%m-%dT%H:%M:%S.%f}.mseed"
        header = {"network": "OO", "station": "HYEA2", "location": "", "channel": "YDH", "sampling_rate": RATE,
                  "starttime": UTCDateTime(start)}
        Stream([Trace(data=data, header=header)]).write(str(path), format="MSEED", encoding="STEIM2", reclen=4096)
        out.append(path)
    return out


def band_energy(data: np.ndarray, bands: dict[str, tuple[float, float]]) -> dict[str, list[float]]:
    """Per window, mean power in each band (one Hann-windowed FFT of the 5 s), in dB over the file's median."""
    W = CLIP * RATE
    n = len(data) // W
    x = data[: n * W].astype(np.float64).reshape(n, W)
    x -= x.mean(axis=1, keepdims=True)
    spec = np.abs(np.fft.rfft(x * np.hanning(W), axis=1)) ** 2
    f = np.fft.rfftfreq(W, 1 / RATE)
    out = {}
    for key, (lo, hi) in bands.items():
        db = 10 * np.log10(spec[:, (f >= lo) & (f <= hi)].mean(axis=1) + 1e-30)
        out[key] = list(db - np.median(db))
    return out


def run_day(paths: Sequence[Path], rs: RenderSettings, cs: ClipSettings) -> tuple[dict[int, float], float]:
    """Each file through `process_file` as a worker's first pass of a top budget: every window scored, none
    stored; then the day's look at what recurs (`recurring.discount`), as `rerun.choose_day` ranks a day.
    Returns window -> score, and the seconds the score took (floor, scores, calibration, the day's look)."""
    raw = []
    for p in paths:
        codes, start = listing.parse_name(p.name)
        raw.append(listing.RawFile(str(p), p.name, start, p.stat().st_size, True, codes))
    plan = plan_day(DAY, raw, cs)
    scores: dict[int, float] = {}
    peaks: dict[int, Peaks] = {}
    spent = 0.0
    with tempfile.TemporaryDirectory() as out:
        sink = LocalSink(out)
        for unit in plan.units:
            r = process_file(unit, unit.file.url, None, DAY, NODE, sink, cs, rs, render_only=frozenset())
            if r.error:
                raise SystemExit(f"{unit.file.name}: {r.error}")
            scores.update(r.scores)
            peaks.update(r.peaks)
            spent += r.seconds.get("score", 0.0)
    t = time.perf_counter()
    scores, _ = recurring.discount(scores, peaks)
    return scores, spent + time.perf_counter() - t


# --- figures ----------------------------------------------------------------------------------------------


def auc(pos: Sequence[float], neg: Sequence[float]) -> float | None:
    """ROC AUC: the chance that a random positive outranks a random negative (ties count a half)."""
    if not pos or not neg:
        return None
    p, n = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None, :]
    return round(float((p > n).mean() + 0.5 * (p == n).mean()), 3)


def unit_values(units: Iterable[Unit], per_window: dict[str, dict[int, float]]) -> list[float]:
    out = []
    for u in units:
        vals = [per_window[u.day][k] for k in u.windows if k in per_window[u.day]]
        out.append(max(vals) if vals else float("-inf"))
    return out


def ranking(units: list[Unit], values: list[float]) -> dict:
    """Within one day: recall@K (K = its whale clips) and what else fills the top K."""
    whales = sum(u.group == "whale" for u in units)
    order = sorted(range(len(units)), key=lambda i: -values[i])[:whales]
    top = [units[i] for i in order]
    return {"k": whales, "recall_at_k": round(sum(u.group == "whale" for u in top) / whales, 3),
            "noise_share": round(sum(u.group == "noise" for u in top) / whales, 3),
            "background_share": round(sum(u.group == "background" for u in top) / whales, 3),
            "noise_in_top": sorted({u.label for u in top if u.group == "noise"})}


def figures(units: list[Unit], values: dict[str, list[float]], held_out: bool | None) -> dict:
    """AUC overall, per species and per noise class, for each detector; `held_out` selects the clips."""
    keep = [i for i, u in enumerate(units) if u.group != "background" and (held_out is None or u.held_out == held_out)]
    out: dict = {}
    for det, vals in values.items():
        whale = [vals[i] for i in keep if units[i].group == "whale"]
        noise = [vals[i] for i in keep if units[i].group == "noise"]
        row = {"all": auc(whale, noise)}
        for s in SPECIES:
            row[s] = auc([vals[i] for i in keep if units[i].label == s], noise)
        for c in NOISE:
            row["vs_" + c] = auc(whale, [vals[i] for i in keep if units[i].label == c])
        out[det] = row
    out["clips"] = {"whale": sum(units[i].group == "whale" for i in keep),
                    "noise": sum(units[i].group == "noise" for i in keep)}
    return out


def table(title: str, fig: dict) -> str:
    cols = ["all", *SPECIES, *("vs_" + c for c in NOISE)]
    dets = [d for d in fig if d != "clips"]
    lines = [f"{title} ({fig['clips']['whale']} whale, {fig['clips']['noise']} noise clip placements)",
             f"  {'ROC AUC':<13}" + "".join(f"{c.removeprefix('vs_'):>9}" for c in cols)]
    for d in dets:
        lines.append(f"  {d:<13}" + "".join(f"{'-' if fig[d][c] is None else fig[d][c]:>9}" for c in cols))
    return "\n".join(lines)


# --- the two real days ------------------------------------------------------------------------------------


def call_windows(spans: Iterable[tuple[float, float]]) -> set[int]:
    """Windows holding at least half of a call, or 0.5 s of it."""
    out = set()
    for a, b in spans:
        for k in range(int(a // CLIP), int(b // CLIP) + 1):
            inside = min(b, (k + 1) * CLIP) - max(a, k * CLIP)
            if inside >= min(0.5, (b - a) / 2) - 1e-9:
                out.add(k)
    return out


def right_day(root: Path, seed: int) -> tuple[list[np.ndarray], set[int], set[int]]:
    """The 15-minute right whale recording as three 5-minute files (upsampled as it is: nothing above 1 kHz),
    then three files of the same sea without right whales: the recording again, each window that holds part of
    a marked or unsure upcall replaced by one of its windows that holds none, drawn in a fixed random order
    from those with no ping (`PINGS`) in them or in the window after (each replacement's ends tapered over
    10 ms, so that no join steps); the windows holding a marked upcall; and the windows left out (unsure).

    The same sea keeps its time: the pinger still pings every 180.2 s where the recording has no upcall, as it
    would in a recording without right whales. (Until SCORE_VERSION 4 the free half was the free windows
    shuffled with repeats, which copied four pings to random times and twice each, as no sea does.)"""
    x, _ = load(root, RIGHT_DAY)
    x *= 1e4 / np.std(x)
    W = CLIP * RATE
    n = len(x) // W
    calls = call_windows(UPCALLS)
    touched = {k for a, b in UPCALLS + UNSURE for k in range(int(a // CLIP), int((b + TAIL_SECONDS) // CLIP) + 1)}
    pinged = {k + d for p in PINGS for k in (int(p // CLIP),) for d in (0, 1)}
    free = [k for k in range(n) if k not in touched | pinged]
    order = iter(np.random.default_rng([seed, 6]).permutation(free))
    ramp = np.sin(np.linspace(0, np.pi / 2, RATE // 100)) ** 2
    pieces = [x[k * W : (k + 1) * W].copy() if k not in touched else x[int(next(order)) * W :][:W].copy()
              for k in range(n)]
    for k in range(n):  # both sides of every join with a replaced window
        if k in touched or k - 1 in touched:
            pieces[k][: len(ramp)] *= ramp
        if k in touched or k + 1 in touched:
            pieces[k][-len(ramp) :] *= ramp[::-1]
    y = np.concatenate([x[: n * W], *pieces])
    files = [np.clip(np.round(y[i * FILE * RATE : (i + 1) * FILE * RATE]), -(2**31), 2**31 - 1).astype(np.int32)
             for i in range(len(y) // (FILE * RATE))]
    return files, calls, call_windows(UNSURE) - calls


def knocks_day(root: Path, seed: int) -> tuple[list[np.ndarray], set[int]]:
    """10 minutes: knocks throughout, a real fin series and real blue B calls, and one blue whale A call."""
    rng = np.random.default_rng([seed, 83])
    bg, bg_rate = load(root, BACKGROUNDS["soundscape"])
    floor = floor_level(bg, bg_rate)
    x = chain(bg, 2 * FILE, rng)
    rs = RenderSettings(axes=False)
    ev.add(x, 0.0, ev.Event("knocks", 0.0, 2.0 * FILE, ev.LEVELS["knocks"], seed=seed), rs, RATE)
    fin, own = load(root, KNOCKS_FIN)
    fin *= np.sqrt(floor / floor_level(fin, own))
    x[20 * RATE : 20 * RATE + len(fin)] += fin
    x[340 * RATE : 340 * RATE + len(fin)] += fin
    blue, own = load(root, KNOCKS_BLUE)
    blue *= np.sqrt(floor / floor_level(blue, own))
    x[150 * RATE : 150 * RATE + len(blue)] += blue
    a = ev.Event("blue_a", 452.5, 18.0, 6.0, seed=seed)
    ev.add(x, 0.0, a, rs, RATE)
    x *= 1e4 / np.std(x)
    files = [np.clip(np.round(x[i * FILE * RATE : (i + 1) * FILE * RATE]), -(2**31), 2**31 - 1).astype(np.int32)
             for i in range(2)]
    return files, set(a.windows(CLIP, 2.0))


def top_share(scores: dict[int, float], targets: set[int], share: float = 0.1) -> int:
    n = max(1, int(round(len(scores) * share)))
    top = sorted(scores, key=lambda k: (-scores[k], k))[:n]
    return len(targets & set(top))


def recall_at_k(scores: dict[int, float], targets: set[int], within: set[int] | None = None) -> dict:
    keys = [k for k in scores if within is None or k in within]
    K = len(targets & set(keys))
    top = sorted(keys, key=lambda k: (-scores[k], k))[:K]
    return {"k": K, "recall_at_k": round(len(targets & set(top)) / max(K, 1), 3)}


# --- main -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--realdata", type=Path, default=default_realdata())
    p.add_argument("--levels", type=float, nargs="+", default=[0.0, -6.0, -12.0],
                   help="dB under each clip's recorded level (default 0 -6 -12)")
    p.add_argument("--backgrounds", nargs="+", default=list(BACKGROUNDS), choices=list(BACKGROUNDS))
    p.add_argument("--noise", choices=("passage", "insert"), default="passage",
                   help="lasting noise (vessels, rain, wind) as a 2-minute passage (default) or its bare clip")
    p.add_argument("--seed", type=int, default=20)
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "whaledr-bench-real",
                   help="where the days' miniSEED files are kept between runs")
    p.add_argument("--parts", nargs="+", default=["clips", "right", "knocks"], choices=["clips", "right", "knocks"],
                   help="the clip days, the right whale day, the knocks day (default: all three)")
    p.add_argument("--preset", default=None, help="render settings preset to score with (default: the defaults)")
    a = p.parse_args(argv)
    if not a.realdata.is_dir():
        raise SystemExit(f"no real recordings at {a.realdata}: pass --realdata or set WHALEDR_REALDATA")
    if a.preset:
        from whaledr_core.render import preset_settings

        rs = preset_settings(a.preset)
    else:
        rs = RenderSettings()
    cs = ClipSettings()
    t0 = time.perf_counter()
    cache: dict[str, tuple[np.ndarray, int]] = {}
    units: dict[float, list[Unit]] = {}
    scores: dict[str, dict[int, float]] = {}
    bands: dict[str, dict[str, dict[int, float]]] = {k: {} for k in BANDS}
    spent, windows = 0.0, 0
    for level in a.levels if "clips" in a.parts else []:
        units[level] = []
        for bg in a.backgrounds:
            key = hashlib.sha1(json.dumps([bg, level, a.noise, a.seed, sorted(CATALOGUE), 3]).encode()).hexdigest()[:10]
            folder = a.work / f"{bg}{level:+g}dB-{a.noise}-{key}"
            layout = folder / "layout.json"
            if layout.exists():
                saved = json.loads(layout.read_text())
                day_units = [Unit(**u) for u in saved["units"]]
                be = saved["bands"]
                paths = sorted(folder.glob("*.mseed"))
            else:
                day = build_day(a.realdata, bg, level, a.noise, a.seed, cache)
                paths = write_files(folder, day.files)
                be = {k: {} for k in BANDS}
                for i, data in enumerate(day.files):
                    for k, vals in band_energy(data, BANDS).items():
                        be[k].update({str(i * FILE // CLIP + j): v for j, v in enumerate(vals)})
                day_units = day.units
                layout.write_text(json.dumps({"units": [asdict(u) for u in day_units], "bands": be}))
            name = day_units[0].day
            s, sec = run_day(paths, rs, cs)
            scores[name], spent, windows = s, spent + sec, windows + len(s)
            for k in BANDS:
                bands[k][name] = {int(w): v for w, v in be[k].items()}
            units[level] += day_units
            print(f"{name}: {len(paths)} files, {len(s)} windows scored", file=sys.stderr)
    levels = []
    for level in units:
        us = units[level]
        vals = {"score": unit_values(us, scores), **{k: unit_values(us, bands[k]) for k in BANDS}}
        rank = {}
        for det, v in vals.items():
            per_day = [ranking([u for u in us if u.day == d], [x for u, x in zip(us, v, strict=True) if u.day == d])
                       for d in dict.fromkeys(u.day for u in us)]
            rank[det] = {"recall_at_k": round(float(np.mean([r["recall_at_k"] for r in per_day])), 3),
                         "noise_share": round(float(np.mean([r["noise_share"] for r in per_day])), 3),
                         "background_share": round(float(np.mean([r["background_share"] for r in per_day])), 3),
                         "noise_in_top": sorted({c for r in per_day for c in r["noise_in_top"]})}
        level_fig = {"level_db": level, "tuned": figures(us, vals, False), "held_out": figures(us, vals, True),
                     "all": figures(us, vals, None), "ranking": rank}
        levels.append(level_fig)
        print(table(f"level {level:+g} dB, tuned-on clips", level_fig["tuned"]), file=sys.stderr)
        print(table(f"level {level:+g} dB, held-out clips", level_fig["held_out"]), file=sys.stderr)
        for det, r in rank.items():
            print(f"  {det:<13} recall@K {r['recall_at_k']:.3f}, top K: noise {r['noise_share']:.3f} "
                  f"background {r['background_share']:.3f} ({', '.join(r['noise_in_top'])})", file=sys.stderr)
    right, knocks = None, None
    if "right" in a.parts:
        right = right_whale_figures(a.realdata, a.work, a.seed, rs, cs)
        print(f"right whale day: {json.dumps(right)}", file=sys.stderr)
    if "knocks" in a.parts:
        knocks = knocks_figures(a.realdata, a.work, a.seed, rs, cs)
        print(f"knocks day: {json.dumps(knocks)}", file=sys.stderr)
    first = next((lv for lv in levels if lv["level_db"] == max(units)), None)
    met = first is not None and (first["all"]["score"]["all"] or 0) >= 0.9 and all(
        (first["all"]["score"][s] or 0) >= (first["all"]["band_45_310"][s] or 0) for s in SPECIES)
    print(json.dumps({
        "bench": "real",
        "render": {"nfft": rs.nfft, "overlap": rs.overlap, "fmin": rs.fmin, "fmax": rs.fmax},
        "noise": a.noise,
        "backgrounds": a.backgrounds,
        "levels": levels,
        "right_day": right,
        "knocks_day": knocks,
        "score_ms_per_clip": round(1000 * spent / max(windows, 1), 3) if windows else None,
        "targets_met": met,
        "seconds": round(time.perf_counter() - t0, 1),
    }))


def right_whale_figures(root: Path, work: Path, seed: int, rs: RenderSettings, cs: ClipSettings) -> dict:
    """Recall@K of the marked upcalls' windows on the right whale day (K their number), and the share of the
    top K from its half without right whales; score and band energy. The same for each half of the recording's
    time (`HALF_SECONDS`): "tuned" its first half and the first half of the copy without right whales, "held_out"
    the second halves."""
    right_files, right_calls, unsure = right_day(root, seed)
    right_paths = write_files(work / "right-day", right_files)
    rscores, _ = run_day(right_paths, rs, cs)
    rbands: dict[str, dict[int, float]] = {k: {} for k in BANDS}
    for i, data in enumerate(right_files):
        for k, vals in band_energy(data, BANDS).items():
            rbands[k].update({i * FILE // CLIP + j: v for j, v in enumerate(vals)})
    half = len(right_files) // 2 * FILE // CLIP
    first = int(HALF_SECONDS // CLIP)
    out = {}
    for det, s in {"score": rscores, **rbands}.items():
        s = {k: v for k, v in s.items() if k not in unsure}
        for part, keep in (("all", lambda k: True), ("tuned", lambda k: k % half < first),
                           ("held_out", lambda k: k % half >= first)):
            these = {k: v for k, v in s.items() if keep(k)}
            r = recall_at_k(these, right_calls)
            top = sorted(these, key=lambda k: (-these[k], k))[: r["k"]]
            r["no_right_whale_share"] = round(sum(k >= half for k in top) / max(r["k"], 1), 3)
            out[det if part == "all" else f"{det}_{part}"] = r
    return out


def knocks_figures(root: Path, work: Path, seed: int, rs: RenderSettings, cs: ClipSettings) -> dict:
    """How many of the A call's windows the knocks day's top 10 % holds, score and band energy."""
    knock_files, a_windows = knocks_day(root, seed)
    kscores, _ = run_day(write_files(work / "knocks-day", knock_files), rs, cs)
    kbands: dict[str, dict[int, float]] = {k: {} for k in BANDS}
    for i, data in enumerate(knock_files):
        for k, vals in band_energy(data, BANDS).items():
            kbands[k].update({i * FILE // CLIP + j: v for j, v in enumerate(vals)})
    return {det: {"a_windows": len(a_windows), "in_top_10pct": top_share(s, a_windows),
                  "top_12": sorted(s, key=lambda k: (-s[k], k))[:12]}
            for det, s in {"score": kscores, **kbands}.items()}

if __name__ == "__main__":
    main()
