"""How much a file's trace structure costs: one trace (before June 2023), 1,200 traces sharing the first
packet's start (2023) and 1,200 jittered per-packet traces (since), same samples.

    .venv/bin/python -m bench.traces

Prints, for each, the best of five: the decode (obspy read + assembly) and the whole file
(decode + 60 clips rendered and written to a local folder), and the ratio to one trace.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from whaledr_core import clips, listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings, plan_day
from whaledr_core.fileclips import process_file
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import LocalSink
from whaledr_core.synth import SynthOptions, write_day

DAY = dt.date(2025, 5, 24)


def best(f, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    h, clip_settings, render_settings = get_hydrophone("LJ01D"), ClipSettings(), RenderSettings()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for era in ("2019", "2023", "2025"):
            (path,) = write_day(Path(tmp, era), h, DAY, SynthOptions(files=1, era=era))
            codes, start = listing.parse_name(path.name)
            raw = listing.RawFile(str(path), path.name, start, path.stat().st_size, True, codes)
            unit = plan_day(DAY, [raw], clip_settings).units[0]
            sink = LocalSink(Path(tmp, "out", era))
            decode = best(lambda p=path: clips.read_file(str(p), DAY, clip_settings))
            whole = best(lambda p=path, u=unit, s=sink: process_file(u, str(p), None, DAY, h.node, s, clip_settings,
                                                                     render_settings))
            traces = clips.read_file(str(path), DAY, clip_settings).traces
            figures[era] = {"traces": traces, "decode_s": round(decode, 3), "file_s": round(whole, 3)}
    one = figures["2019"]
    for era in ("2023", "2025"):
        figures[era]["decode_ratio"] = round(figures[era]["decode_s"] / one["decode_s"], 3)
        figures[era]["file_ratio"] = round(figures[era]["file_s"] / one["file_s"], 3)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
