"""What encoding one clip's image costs, JPEG against PNG, on clips of a synthetic OOI file.

    .venv/bin/python -m bench.encode            # ~20 s: one 5-minute file, 60 clips, each format

Prints a table and one JSON line: milliseconds per clip to encode (median and 90th percentile of the
palette indices -> bytes step, the axes' frame already drawn) and kilobytes per clip. The JPEG's
quality is RenderSettings' default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from whaledr_core import clips, listing, render
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings
from whaledr_core.render import IMAGE_FORMATS, RenderSettings
from whaledr_core.synth import SynthOptions, write_day

from .stages import DAY, NODE
from .stages import local as listing_path


def levels_of_a_file(folder: Path) -> list[np.ndarray]:
    """Palette indices of every clip of one synthetic file: the input of the encode step."""
    write_day(folder, get_hydrophone(NODE), DAY, SynthOptions(files=1))
    clip_settings, render_settings = ClipSettings(), RenderSettings()
    unit = clips.plan_day(DAY, listing.list_day(str(folder), get_hydrophone(NODE), DAY)[1], clip_settings).units[0]
    data = clips.read_file(listing_path(unit.file.url), DAY, clip_settings)
    out = []
    for w in clips.cut(unit, data, clip_settings, None):
        if w.reason is None and w.samples is not None:
            db = render.spectrogram_db(w.samples, render_settings, clip_settings.sample_rate)
            out.append(render.to_levels(db, *render.db_limits(db, render_settings)))
    return out


def measure(levels: list[np.ndarray], render_settings: RenderSettings, rounds: int) -> dict[str, float]:
    clip_settings = ClipSettings()
    # the frame is drawn once per process
    render.encode_image(levels[0], render_settings, clip_settings.sample_rate, clip_settings.clip_seconds)
    times, sizes = [], []
    for _ in range(rounds):
        for lv in levels:
            t0 = time.perf_counter()
            data = render.encode_image(lv, render_settings, clip_settings.sample_rate, clip_settings.clip_seconds)
            times.append(time.perf_counter() - t0)
            sizes.append(len(data))
    ms = np.array(times) * 1000
    return {"ms_median": round(float(np.median(ms)), 2), "ms_p90": round(float(np.percentile(ms, 90)), 2),
            "kb_per_clip": round(float(np.mean(sizes)) / 1000, 1)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="times each clip is encoded")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="whaledr-encode-") as work:
        levels = levels_of_a_file(Path(work))
    result = {fmt: measure(levels, dataclasses.replace(RenderSettings(), image_format=fmt), a.rounds)
              for fmt in IMAGE_FORMATS}
    print(f"{len(levels)} clips, {RenderSettings().width}x{RenderSettings().height}, "
          f"JPEG quality {RenderSettings().jpeg_quality}", file=sys.stderr)
    print(f"{'format':8}{'ms median':>11}{'ms p90':>9}{'KB/clip':>9}", file=sys.stderr)
    for fmt, r in result.items():
        print(f"{fmt:8}{r['ms_median']:>11}{r['ms_p90']:>9}{r['kb_per_clip']:>9}", file=sys.stderr)
    print(json.dumps({"clips": len(levels), "encode": result}), flush=True)
    return result


if __name__ == "__main__":
    main()
