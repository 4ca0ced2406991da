"""The core alone, in one process: `process_file` over a mirror's files, one after another.

    python -m bench.stages MIRROR FILES OUT

The first file warms the process up (imports, FFT plans, the axes frame) and is not counted; the
line printed is the CPU time of the rest, as JSON. bench/run.py runs this as a child process, once
plain and once under py-spy, so that the stage path and the flow are measured the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
from pathlib import Path

from whaledr_core import clips, listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings
from whaledr_core.fileclips import process_file
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import LocalSink

DAY = dt.date(2019, 1, 12)
NODE = "LJ01D"


def local(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


def run(mirror: str, files: int, out: Path) -> dict[str, float]:
    clip_settings, render_settings = ClipSettings(), RenderSettings()
    plan = clips.plan_day(DAY, listing.list_day(mirror, get_hydrophone(NODE), DAY)[1], clip_settings)
    sink = LocalSink(out)
    n = 0
    before = None
    for i, unit in enumerate(plan.units[:files]):
        if i == 1:
            before = resource.getrusage(resource.RUSAGE_SELF)
        nxt = unit.next_file
        r = process_file(unit, local(unit.file.url), (lambda nxt=nxt: local(nxt.url)) if nxt else None, DAY, NODE,
                         sink, clip_settings, render_settings)
        n += len(r.clips) if i else 0
    after = resource.getrusage(resource.RUSAGE_SELF)
    if before is None or n == 0:
        raise SystemExit("need at least two files: the first only warms up")
    return {"clips": n, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))))
