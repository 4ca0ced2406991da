"""A synthetic OOI mirror: realistic Steim2 miniSEED laid out as the raw data server lays it out.

There is no internet on our machines, and tests, the demo and the benchmarks must run anyway. So we
write what the server holds, with the same quirks: each era's file names and trace structure,
fractional start times, irregular starts after a gap, jittering packet labels, a truncated file,
`.png` files beside the data, an `addendum/` folder and an `index.html` in every folder built by
Apache 2.4 mod_autoindex's rules, so that `python -m http.server --directory DIR` looks to our
listing code like the real server. No page of the real server could be captured (no internet): the
facts followed are in DESIGN.md "The data", from ooipy issue 174, the history of OOI's
mi-instrument hydrophone driver and the rawdata server's paths quoted there.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import numpy as np

from . import events
from .catalog import FILE_SECONDS, SAMPLE_RATE, Hydrophone
from .clips import midnight

FRACTION = dt.timedelta(microseconds=15)
"""OOI's files start a few microseconds after the minute; so do ours."""


@dataclass(frozen=True)
class Era:
    """What the server's files looked like in one period (DESIGN.md "The data")."""

    separator: str
    """Before the time in a name: `.` before mid-December 2015 (`OO-HYVM2--YDH.2015-09-03T23:53:17.272250.mseed`),
    `-` since (`OO-HYEA2--YDH-2019-01-12T00:00:00.000015.mseed`)."""
    zulu: bool
    """A trailing `Z`, since the June 2023 driver (`OO-HYEA2--YDH-2025-05-24T23:55:00.000000Z.mseed`)."""
    traces: str
    """"one" trace per file (before 7 June 2023); "shared": one per packet, all carrying the first
    packet's start (June to about December 2023); "packets": one per packet, labels jittering by up
    to ~0.25 s (since). ooipy issue 174 and the mi-instrument driver's history."""


ERAS: dict[str, Era] = {
    "2015": Era(".", False, "one"),
    "2019": Era("-", False, "one"),
    "2023": Era("-", True, "shared"),
    "2025": Era("-", True, "packets"),
}
DEFAULT_ERA = "2025"
"""The server as it is today, so that the demo and the tests exercise today's data."""
PACKET_SECONDS = 0.25
"""One packet of the hydrophone's driver (ooipy issue 174: ~1,200 per 5-minute file)."""
JITTER_SECONDS = 0.25
"""How far a packet's start label strays from its true time in the per-packet era."""


@dataclass(frozen=True)
class SynthOptions:
    files: int = 12
    first: dt.time = dt.time(0, 0)
    file_seconds: int = FILE_SECONDS
    gap_seconds: float = 0.0
    """When > 0, the second file starts this late: a gap, then irregular starts for the rest."""
    fragmented: bool = False
    """The first file is written as hundreds of fragments with jittering timestamps."""
    truncated: bool = False
    """The last file is cut in the middle of a record."""
    addendum: bool = False
    """The last file is put in the day's `addendum/` folder."""
    seed: int = 0
    era: str = DEFAULT_ERA
    """One of `ERAS`: the names and trace structure of that period. The day's folder form follows
    the date (catalog: `11-HYDBBA106` before February 2025, `HYDBBA106` since)."""
    rate: int = SAMPLE_RATE
    """LJ01D recorded at 128 and 256 kHz, in 1-minute files, from 24 to 28 June 2025."""
    events_snr: float | None = None
    """When set: sea noise with calls at this SNR (dB) and distractors (`events`) instead of `signal`,
    and a ground-truth file of them (`ground_truth_path`) beside the mirror."""

    def __post_init__(self) -> None:
        if self.era not in ERAS:
            raise ValueError(f"unknown era {self.era!r}; known: {', '.join(ERAS)}")


def station_code(h: Hydrophone) -> str:
    return h.station or ("HY" + h.node[-3:])


def signal(n: int, rate: int, t0: float, rng: np.random.Generator) -> np.ndarray:
    """Coloured sea noise (1e4-1e5 counts) with fin-whale 20 Hz pulses, humpback sweeps and a ship.

    `t0` is the start in seconds since midnight, so events fall on the same clock across files.
    """
    white = rng.standard_normal(n, dtype=np.float32)
    # red-ish noise: a one-pole low-pass of white noise, plus some of the white noise itself
    from scipy.signal import lfilter

    x = lfilter([1.0], [1.0, -0.97], white).astype(np.float32) * np.float32(6000.0)
    x += white * np.float32(3000.0)
    t = np.arange(n, dtype=np.float64) / rate
    # ship: a steady 120 Hz tone with a harmonic
    x += (9000 * np.sin(2 * np.pi * 120 * (t + t0)) + 4000 * np.sin(2 * np.pi * 240 * (t + t0))).astype(np.float32)
    # fin whale: 1 s down-sweeps 23 -> 17 Hz every 12 s
    _events(x, rate, t0, period=12.0, length=1.0, amp=60000, f0=23.0, f1=17.0)
    # humpback: 1.5 s up-sweeps 300 -> 1200 Hz with a harmonic, every 20 s
    _events(x, rate, t0, period=20.0, length=1.5, amp=40000, f0=300.0, f1=1200.0, harmonic=True)
    _events(x, rate, t0 + 7.0, period=20.0, length=0.8, amp=30000, f0=3500.0, f1=2000.0)
    return np.clip(np.round(x), -(2**23), 2**23 - 1).astype(np.int32)


def ground_truth_path(root: str | Path, h: Hydrophone, day: dt.date) -> Path:
    """Beside the mirror's tree, outside the folders the pipeline lists."""
    return Path(root) / f"events-{h.node}-{day:%Y_%m_%d}.json"


def day_events(t0: float, seconds: float, snr: float, rng: np.random.Generator) -> list[events.Event]:
    """Calls of every kind (about one per 2.5 minutes), clicks (four per 10 minutes), and from 30 minutes
    on a floor rise per half hour, a ship passage per 40 minutes and an hour of hum per hour; and from 30
    minutes on, per half hour, a right whale upcall, a blue whale A call and a minke boing, and per hour
    minutes of knocks, an airgun survey, sonar, rain and snapping shrimp (`events`, issue 20's kinds: a
    stretch under half an hour is drawn exactly as before them)."""
    per = max(1, round(seconds / 600))
    half, hour = int(seconds // 1800), int(seconds // 3600)
    counts = {"fin": per + 1, "blue": per, "humpback": per + 1, "minke": per, "click": 4 * per,
              "floor": half, "ship": int(seconds // 2400), "hum": hour,
              "upcall": half, "blue_a": half, "boing": half,
              "knocks": hour, "airgun": hour, "sonar": hour, "rain": hour, "shrimp": hour}
    return events.scatter(seconds, {k: n for k, n in counts.items() if n}, snr, rng, t0=t0)


def with_events(n: int, rate: int, t0: float, happenings: list[events.Event], rng: np.random.Generator) -> np.ndarray:
    """Sea noise at the file's own gain, the floor's changes, lasting tones, calls, then transients (clicks,
    knocks, airguns, sonar, rain, shrimp) on top, as bench/detect.py makes them; in counts."""
    from .render import RenderSettings

    rs = RenderSettings()
    x = events.sea_noise(n, rng, level=6000.0 * float(10 ** rng.uniform(-0.5, 0.5)))
    mine = [e for e in happenings if e.start < t0 + n / rate and e.start + e.duration > t0]
    order = {"floor": 0, **dict.fromkeys(events.TONAL, 1), **dict.fromkeys(events.CALLS, 2)}
    for e in sorted(mine, key=lambda e: order.get(e.kind, 3)):
        events.add(x, t0, e, rs, rate)
    return np.clip(np.round(x), -(2**23), 2**23 - 1).astype(np.int32)


def _events(x: np.ndarray, rate: int, t0: float, *, period: float, length: float, amp: float,
            f0: float, f1: float, harmonic: bool = False) -> None:
    n = len(x)
    first = np.ceil(t0 / period) * period
    t_ev = first
    while (t_ev - t0) * rate < n:
        a = int(round((t_ev - t0) * rate))
        m = int(length * rate)
        lo, hi = max(a, 0), min(a + m, n)
        if lo < hi:
            tt = (np.arange(lo, hi) - a) / rate
            phase = 2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / (2 * length))
            env = np.sin(np.pi * tt / length) ** 2
            y = np.sin(phase) + (0.5 * np.sin(2 * phase) if harmonic else 0)
            x[lo:hi] += (amp * env * y).astype(np.float32)
        t_ev += period


def file_name(h: Hydrophone, start: dt.datetime, era: str = DEFAULT_ERA) -> str:
    e = ERAS[era]
    return f"OO-{station_code(h)}--YDH{e.separator}{start:%Y-%m-%dT%H:%M:%S.%f}{'Z' if e.zulu else ''}.mseed"


def write_day(root: str | Path, h: Hydrophone, day: dt.date, opts: SynthOptions = SynthOptions()) -> list[Path]:
    """Write one day's files for `h` under `root` and refresh every index page; return the files."""
    from obspy import Stream, UTCDateTime

    root = Path(root)
    folder = root / h.day_paths(day)[0]
    folder.mkdir(parents=True, exist_ok=True)
    rate, n = opts.rate, opts.file_seconds * opts.rate
    start = midnight(day) + dt.timedelta(hours=opts.first.hour, minutes=opts.first.minute) + FRACTION
    written: list[Path] = []
    span = opts.files * opts.file_seconds + opts.gap_seconds
    happenings = None if opts.events_snr is None else day_events(
        (start - midnight(day)).total_seconds(), span, opts.events_snr, np.random.default_rng([opts.seed, 15]))
    if happenings is not None:
        ground_truth_path(root, h, day).write_bytes(events.dumps(happenings, day))
    for i in range(opts.files):
        if i == 1 and opts.gap_seconds > 0:
            start += dt.timedelta(seconds=opts.gap_seconds)
        rng = np.random.default_rng([opts.seed, day.toordinal(), i])
        t0 = (start - midnight(day)).total_seconds()
        data = signal(n, rate, t0, rng) if happenings is None else with_events(n, rate, t0, happenings, rng)
        header = {"network": "OO", "station": station_code(h), "location": "", "channel": "YDH",
                  "sampling_rate": rate, "starttime": UTCDateTime(start)}
        traces = _traces(data, header, ERAS[opts.era].traces, rng)
        if opts.fragmented and i == 0:
            traces = _fragments(data, header, rng) if len(traces) == 1 else _duplicate(traces, 4)
        last = i == opts.files - 1
        target = folder / "addendum" if (opts.addendum and last) else folder
        target.mkdir(exist_ok=True)
        path = target / file_name(h, start, opts.era)
        Stream(traces).write(str(path), format="MSEED", encoding="STEIM2", reclen=4096)
        if opts.truncated and last:
            size = path.stat().st_size
            with open(path, "r+b") as fh:
                fh.truncate(size * 6 // 10 + 1234)  # mid-record
        written.append(path)
        start += dt.timedelta(seconds=opts.file_seconds)
    (folder / f"{file_name(h, midnight(day), opts.era)[:-6]}.png").write_bytes(b"\x89PNG\r\n\x1a\n not a real plot")
    write_indexes(root)
    return written


def _traces(data: np.ndarray, header: dict, structure: str, rng: np.random.Generator) -> list:
    """The file's samples as its era's driver wrote them: one trace, or one per packet."""
    from obspy import Trace

    if structure == "one":
        return [Trace(data=data, header=header)]
    rate = header["sampling_rate"]
    packet = int(PACKET_SECONDS * rate)
    out = []
    for offset in range(0, len(data), packet):
        h = dict(header)
        if structure == "packets" and offset:  # the first label is the file's start; the others jitter
            h["starttime"] = header["starttime"] + offset / rate + float(rng.uniform(-JITTER_SECONDS, JITTER_SECONDS))
        out.append(Trace(data=data[offset:offset + packet], header=h))  # "shared": every label the first's
    return out


def _duplicate(traces: list, i: int) -> list:
    """Packet `i` sent twice, as seen in OOI data."""
    return [*traces[: i + 1], traces[i].copy(), *traces[i + 1 :]]


def _fragments(data: np.ndarray, header: dict, rng: np.random.Generator) -> list:
    """Hundreds of traces whose timestamps jitter by up to 0.2 s but whose samples add up exactly."""
    from obspy import Trace

    cuts = np.sort(rng.choice(np.arange(1, len(data) // 4096), size=400, replace=False)) * 4096
    parts = np.split(data, cuts)
    out, offset = [], 0
    for p in parts:
        h = dict(header)
        jitter = float(rng.uniform(-0.2, 0.2)) if offset else 0.0
        h["starttime"] = header["starttime"] + offset / header["sampling_rate"] + jitter
        out.append(Trace(data=p.copy(), header=h))
        offset += len(p)
    return _duplicate(out, 4)


def apr_strfsize(size: int) -> str:
    """A size as Apache's autoindex prints it: APR's apr_strfsize (`120 `, `5.2M`, ` 36M`)."""
    if size < 0:
        return "  - "
    if size < 973:
        return f"{size:3d} "
    units = "KMGTPE"
    o = 0
    while True:
        remain = size & 1023
        size >>= 10
        if size >= 973:
            o += 1
            continue
        if size < 9 or (size == 9 and remain < 973):
            remain = (remain * 5 + 256) // 512
            if remain >= 10:
                size, remain = size + 1, 0
            return f"{size}.{remain}{units[o]}"
        if remain >= 512:
            size += 1
        return f"{size:3d}{units[o]}"


NAME_WIDTH = 23
"""mod_autoindex's default NameWidth: longer names are shown cut to 20 characters and `..>`."""
HEADER = ('<p>Raw data of the <a href="https://oceanobservatories.org/">Ocean Observatories Initiative</a>; '
          'see the data policy there.</p>\n')
"""A header with a link to another site, as a page may carry (DESIGN.md)."""


def write_indexes(root: str | Path) -> None:
    """An autoindex page in every folder under `root`, as Apache 2.4 writes them with FancyIndexing
    and HTMLTable (mod_autoindex's rules): sort links `?C=N;O=D`, a parent link by absolute path,
    names with a `:` linked as `./NAME` (ap_os_escape_path), shown cut to NameWidth, sizes by
    apr_strfsize, folders first. The mirror's root stands for `https://rawdata.oceanobservatories.org/files`."""
    root = Path(root)
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        path = "/files/" + ("" if rel == "." else rel + "/")
        rows = []
        for d in sorted(dirs):
            rows.append(_row("/icons/folder.gif", "[DIR]", d + "/", Path(folder, d), "  - "))
        for f in sorted(files):
            if f == "index.html":
                continue
            p = Path(folder, f)
            icon, alt = ("/icons/image2.gif", "[IMG]") if f.endswith(".png") else ("/icons/unknown.gif", "[   ]")
            rows.append(_row(icon, alt, f, p, apr_strfsize(p.stat().st_size)))
        title = html.escape(path.rstrip("/") or "/")
        parent = path.rstrip("/").rsplit("/", 1)[0] + "/"
        page = (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
            f"  <title>Index of {title}</title>\n </head>\n <body>\n{HEADER}<h1>Index of {title}</h1>\n  <table>\n"
            '   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th>'
            '<th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th>'
            '<th><a href="?C=D;O=A">Description</a></th></tr>\n   <tr><th colspan="5"><hr></th></tr>\n'
            '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
            f'<td><a href="{parent}">Parent Directory</a></td>'
            '<td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>\n'
            + "".join(rows)
            + '   <tr><th colspan="5"><hr></th></tr>\n</table>\n'
            "<address>Apache/2.4.37 (Red Hat Enterprise Linux) Server at rawdata.oceanobservatories.org "
            "Port 443</address>\n"
            "</body></html>\n"
        )
        Path(folder, "index.html").write_text(page)


def _row(icon: str, alt: str, name: str, path: Path, size: str) -> str:
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).strftime("%Y-%m-%d %H:%M")
    colon, slash = name.find(":"), name.find("/")
    href = ("./" if colon >= 0 and (slash < 0 or colon < slash) else "") + quote(name, safe="/:@&=+$,-_.!~*'()")
    shown = name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 3] + "..>"
    return (
        f'<tr><td valign="top"><img src="{icon}" alt="{alt}"></td>'
        f'<td><a href="{html.escape(href)}">{html.escape(shown)}</a></td>'
        f'<td align="right">{mtime}  </td><td align="right">{size}</td><td>&nbsp;</td></tr>\n'
    )
