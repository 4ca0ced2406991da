"""OOI's documented file defects as synthetic files, and the truth to judge clips against.

The defects follow the public record of OOI's own hydrophone pipeline, ooi-data/ooi-hyd-tools (README
"Known issues"; docs/data-access.md; docs/upstream-repair.md; ooi_hyd_tools/thresholds.py) and
ooipy issue 174, as DESIGN.md "The data" sums them up:
- stub files of 64 samples (152 of 622 files on one HYDBBA102 day);
- a "companion" file named 16 us after a real one, holding a short duplicate of it (2016-07-20);
- duplicated packets (HYDBBA105 and HYDBBA302, 2023-06-15 17:25-17:35);
- every trace of a file carrying the first packet's start (HYDBBA102, 2023-06-15);
- packets of 2,560 samples (docs/upstream-repair.md: "Packets are 2560 samples (40 ms)");
- LJ01D's 256 kHz one-minute files of June 2025, whose labels step exactly one packet at a time;
- OOI's repair rule (thresholds.py, 2026): the sample count decides whether anything is missing
  (within 1 % of nominal is continuous), timestamps only locate real breaks (23 ms).

The hydrophone "records" a known signal (`Recording`): each file holds a slice of it at its true
time, so a clip's WAV (int32-raw: the counts as recorded) can be compared sample by sample with
what was recorded at the clip's time.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from whaledr_core import listing
from whaledr_core.clips import day_index, midnight

RATE = 64_000
DAY = dt.date(2023, 6, 15)
HEAD = {"network": "OO", "station": "HYVM1", "location": "", "channel": "YDH"}
PACKET = 2_560


def at(hms: str, us: int = 0) -> dt.datetime:
    """A UTC time of the fixtures' day, `HH:MM:SS` and microseconds."""
    return dt.datetime.combine(DAY, dt.time.fromisoformat(hms), tzinfo=dt.UTC) + dt.timedelta(microseconds=us)


def name(start: dt.datetime, zulu: bool = True) -> str:
    """A name in the server's form since the June 2023 driver (`zulu`) or the one before it."""
    return f"OO-HYVM1--YDH-{start:%Y-%m-%dT%H:%M:%S.%f}{'Z' if zulu else ''}.mseed"


def ramp(first: int, n: int) -> np.ndarray:
    """What the hydrophone recorded at day indices first..first+n: a ramp, so that any sample out of
    place shows, and small Steim2 files."""
    return (np.arange(first, first + n, dtype=np.int64) % 2_000_000 - 1_000_000).astype(np.int32)


@dataclass
class Recording:
    """What was recorded, by day index at 64 kHz: the truth clips are judged against."""

    held: dict[int, int] = field(default_factory=dict)
    """Day index of a run's first sample -> its length."""

    def add(self, first: int, n: int) -> np.ndarray:
        self.held[first] = max(n, self.held.get(first, 0))
        return ramp(first, n)

    def window(self, k: int, window: int = 5 * RATE) -> tuple[np.ndarray, np.ndarray]:
        """The recorded samples of window k and which of them were recorded at all."""
        a = k * window
        mask = np.zeros(window, bool)
        for first, n in self.held.items():
            lo, hi = max(a, first), min(a + window, first + n)
            if lo < hi:
                mask[lo - a : hi - a] = True
        return ramp(a, window), mask


def traces(data: np.ndarray, start: dt.datetime, *, packet: int = PACKET, shared: bool = False,
           rate: int = RATE) -> list:
    """One trace per packet, labelled with its own start (or all with the first's, `shared`)."""
    from obspy import Trace, UTCDateTime

    t0 = UTCDateTime(start)
    return [Trace(data=data[i:i + packet], header={**HEAD, "sampling_rate": rate,
                                                   "starttime": t0 + (0 if shared else i / rate)})
            for i in range(0, len(data), packet)]


def write(path: Path, trs: list) -> Path:
    from obspy import Stream

    path.parent.mkdir(parents=True, exist_ok=True)
    Stream(trs).write(str(path), format="MSEED", encoding="STEIM2", reclen=4096)
    return path


def recorded_file(folder: Path, rec: Recording, start: dt.datetime, seconds: float, *, shared: bool = False,
                  zulu: bool = True) -> Path:
    """A real file: `seconds` of the recording from `start`, in packets."""
    first = day_index(start, DAY, RATE)
    return write(folder / name(start, zulu), traces(rec.add(first, int(seconds * RATE)), start, shared=shared))


def stub(folder: Path, start: dt.datetime, zulu: bool = True) -> Path:
    """A 64-sample stub file named (and labelled) `start`: a copy of what was recorded then."""
    first = day_index(start, DAY, RATE)
    return write(folder / name(start, zulu), traces(ramp(first, 64), start))


def companion(folder: Path, real: dt.datetime, seconds: float = 3.0) -> Path:
    """A file named 16 us after `real`, holding a duplicate of the real file's first `seconds`,
    labelled with its own name's time (as OOI's 2016-07-20 companion)."""
    start = real + dt.timedelta(microseconds=16)
    first = day_index(real, DAY, RATE)
    return write(folder / name(start), traces(ramp(first, int(seconds * RATE)), start))


def raw(path: Path, sized: bool = True) -> listing.RawFile:
    """The listing's record of a file: with its size (Apache's pages), or without (a plain listing)."""
    codes, start = listing.parse_name(path.name)
    return listing.RawFile(str(path), path.name, start, path.stat().st_size if sized else None, sized, codes)


def wav_counts(data: bytes) -> np.ndarray:
    import soundfile as sf

    counts, _ = sf.read(io.BytesIO(data), dtype="int32")
    return counts


def window_of(iso: str) -> int:
    """The window index of a clip's or range's start."""
    t = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return int((t - midnight(DAY)).total_seconds()) // 5


@dataclass
class DefectDay:
    """A day folder of LJ01A for 2023-06-15 holding one of each documented defect."""

    rec: Recording
    folder: Path
    files: dict[str, Path]
    """What each file is -> its path."""
    clips: dict[str, int]
    """What each file is -> the clips its data gives."""


def defect_day(root: Path) -> DefectDay:
    """The issue's day, laid out as the OOI server's folder (with a `.png` and an `addendum/`):
    - 17:25:00 48 s in 1,200 packets sharing one start, 20 of them sent twice: 9 clips;
    - 17:26:00 a real file, and a companion 16 us after it with a 3 s duplicate: 6 clips, none;
    - 17:26:30 a real file, and a 64-sample stub 0.4 ms after its start: 6 clips, none;
    - 17:27:00 a short file holding 17.3 s: 3 clips;
    - 17:27:30 a real file, the same copy also in `addendum/`: 6 clips.
    `write_indexes` adds Apache's index pages (with sizes)."""
    from whaledr_core.catalog import get_hydrophone
    from whaledr_core.synth import write_indexes

    folder = root / get_hydrophone("LJ01A").day_paths(DAY)[0]
    rec = Recording()
    start = at("17:25:00")
    trs = traces(rec.add(day_index(start, DAY, RATE), 1_200 * PACKET), start, shared=True)
    for i in range(10):
        trs.insert(2 * i + 1, trs[2 * i].copy())
        trs.insert(400 + i * 3, trs[200 + i].copy())
    files = {"duplicated packets": write(folder / name(start), trs)}
    files["real, with a companion"] = recorded_file(folder, rec, at("17:26:00"), 30)
    files["companion"] = companion(folder, at("17:26:00"))
    files["real, with a stub"] = recorded_file(folder, rec, at("17:26:30"), 30)
    files["stub"] = stub(folder, at("17:26:30", 400))
    files["short"] = recorded_file(folder, rec, at("17:27:00"), 17.3)
    files["also in addendum"] = recorded_file(folder, rec, at("17:27:30"), 30)
    (folder / "addendum").mkdir()
    (folder / "addendum" / files["also in addendum"].name).write_bytes(files["also in addendum"].read_bytes())
    (folder / f"{name(at('00:00:00'))[:-6]}.png").write_bytes(b"\x89PNG\r\n\x1a\n not a real plot")
    write_indexes(root)
    clips = {"duplicated packets": 9, "real, with a companion": 6, "companion": 0, "real, with a stub": 6, "stub": 0,
             "short": 3, "also in addendum": 6}
    return DefectDay(rec, folder, files, clips)
