"""A synthetic OOI mirror: realistic 64 kHz Steim2 miniSEED laid out as the raw data server lays it out.

There is no internet on our machines, and tests, the demo and the benchmarks must run anyway. So we
write what the server holds, with the same quirks: fractional start times, irregular starts after a
gap, fragmented multi-trace files with jittering timestamps, a truncated file, `.png` files beside the
data, an `addendum/` folder and an Apache-style `index.html` in every folder, so that
`python -m http.server --directory DIR` looks to our listing code like the real server.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .catalog import FILE_SECONDS, SAMPLE_RATE, Hydrophone
from .clips import midnight

FRACTION = dt.timedelta(microseconds=15)
"""OOI's files start a few microseconds after the minute; so do ours."""


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


def file_name(h: Hydrophone, start: dt.datetime) -> str:
    return f"OO-{station_code(h)}--YDH-{start:%Y-%m-%dT%H:%M:%S.%f}.mseed"


def write_day(root: str | Path, h: Hydrophone, day: dt.date, opts: SynthOptions = SynthOptions()) -> list[Path]:
    """Write one day's files for `h` under `root` and refresh every index page; return the files."""
    from obspy import Stream, Trace, UTCDateTime

    root = Path(root)
    folder = root / h.day_paths(day)[0]
    folder.mkdir(parents=True, exist_ok=True)
    rate, n = SAMPLE_RATE, opts.file_seconds * SAMPLE_RATE
    start = midnight(day) + dt.timedelta(hours=opts.first.hour, minutes=opts.first.minute) + FRACTION
    written: list[Path] = []
    for i in range(opts.files):
        if i == 1 and opts.gap_seconds > 0:
            start += dt.timedelta(seconds=opts.gap_seconds)
        rng = np.random.default_rng([opts.seed, day.toordinal(), i])
        t0 = (start - midnight(day)).total_seconds()
        data = signal(n, rate, t0, rng)
        header = {"network": "OO", "station": station_code(h), "location": "", "channel": "YDH",
                  "sampling_rate": rate, "starttime": UTCDateTime(start)}
        if opts.fragmented and i == 0:
            traces = _fragments(data, header, rng)
        else:
            traces = [Trace(data=data, header=header)]
        last = i == opts.files - 1
        target = folder / "addendum" if (opts.addendum and last) else folder
        target.mkdir(exist_ok=True)
        path = target / file_name(h, start)
        Stream(traces).write(str(path), format="MSEED", encoding="STEIM2", reclen=4096)
        if opts.truncated and last:
            size = path.stat().st_size
            with open(path, "r+b") as fh:
                fh.truncate(size * 6 // 10 + 1234)  # mid-record
        written.append(path)
        start += dt.timedelta(seconds=opts.file_seconds)
    (folder / f"{file_name(h, midnight(day))[:-6]}.png").write_bytes(b"\x89PNG\r\n\x1a\n not a real plot")
    write_indexes(root)
    return written


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
    # a duplicated packet, as seen in OOI data
    out.insert(5, Trace(data=out[4].data.copy(), header=dict(out[4].stats)))
    return out


def human_size(n: int) -> str:
    """Apache's rounded sizes: `24`, `5.2M`, `36M`."""
    size, unit = float(n), ""
    for unit in ("", "K", "M", "G"):
        if size < 1024 or unit == "G":
            break
        size /= 1024
    if unit == "":
        return str(n)
    return f"{size:.1f}{unit}" if size < 10 else f"{size:.0f}{unit}"


def write_indexes(root: str | Path) -> None:
    """An Apache autoindex page in every folder under `root`, as the OOI server shows them."""
    root = Path(root)
    for folder, dirs, files in os.walk(root):
        rel = "/" + Path(folder).relative_to(root).as_posix().strip(".").strip("/")
        rel = "/files" + (rel if rel != "/" else "") + "/"
        rows = []
        for d in sorted(dirs):
            rows.append(_row("[DIR]", d + "/", Path(folder, d), "-"))
        for f in sorted(files):
            if f == "index.html":
                continue
            p = Path(folder, f)
            rows.append(_row("[   ]", f, p, human_size(p.stat().st_size)))
        title = html.escape(rel.rstrip("/") or "/")
        page = (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
            f"  <title>Index of {title}</title>\n </head>\n <body>\n<h1>Index of {title}</h1>\n  <table>\n"
            '   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th>'
            '<th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th>'
            '<th><a href="?C=D;O=A">Description</a></th></tr>\n   <tr><th colspan="5"><hr></th></tr>\n'
            '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="../">Parent Directory</a></td>'
            '<td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>\n'
            + "".join(rows)
            + '   <tr><th colspan="5"><hr></th></tr>\n</table>\n</body></html>\n'
        )
        Path(folder, "index.html").write_text(page)


def _row(alt: str, name: str, path: Path, size: str) -> str:
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    icon = "/icons/folder.gif" if alt == "[DIR]" else "/icons/unknown.gif"
    href = html.escape("./" + name, quote=True)
    return (
        f'<tr><td valign="top"><img src="{icon}" alt="{alt}"></td><td><a href="{href}">{html.escape(name)}</a></td>'
        f'<td align="right">{mtime}  </td><td align="right">{size:>4}</td><td>&nbsp;</td></tr>\n'
    )
