"""How fast and how lean the pipeline is on this machine, ending with one JSON line of figures.

    .venv/bin/python -m bench.run                 # 24 synthetic files (2 hours of one hydrophone)
    .venv/bin/python -m bench.run --files 288     # a whole day

Everything runs on loopback with a synthetic mirror made by `whaledr synth`:
- stages: the core's steps timed one by one in this process, per clip;
- flow: `whaledr run` (Prefect flow, process pool, local folder output) with the mirror as a folder,
  then the same files served over loopback HTTP;
- bare: the same units of work through `process_file` in a plain process pool, without Prefect;
- original: the original's settings (mlab.specgram, nfft 4096, a 21-sample hop, a matplotlib
  figure per clip, int32 WAV) on a few clips.
Throughput figures use the flow's own processing time from its day manifest (listing to the last
file); the command's wall time, which adds Prefect's server start, is printed beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from whaledr_core import clips, listing, render
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings
from whaledr_core.fileclips import process_file
from whaledr_core.mirror import serve
from whaledr_core.render import RenderSettings
from whaledr_core.sinks import LocalSink
from whaledr_core.synth import SynthOptions, write_day

DAY = dt.date(2019, 1, 12)
NODE = "LJ01D"
TARGETS = {
    "flow_clips_per_second": (">=", 100),
    "flow_over_bare": ("<=", 1.25),
    "http_over_local": ("<=", 1.3),
    "original_over_ours": (">=", 500),
    "peak_worker_rss_mib": ("<=", 400),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def stages(mirror: Path, n_files: int, out: Path) -> dict[str, float]:
    """Milliseconds per clip of each step, in one process, over the first files."""
    h, clip_settings, render_settings = get_hydrophone(NODE), ClipSettings(), RenderSettings()
    plan = clips.plan_day(DAY, listing.list_day(str(mirror), h, DAY)[1], clip_settings)
    sink = LocalSink(out)
    t = dict.fromkeys(["decode", "spectrogram", "scaling", "image_encode", "wav_encode", "writes"], 0.0)
    n = 0
    # warm up: obspy's plugin lookup, the FFT plan and the axes frame are one-off costs per process
    clips.read_file(listing_path(plan.units[0].file.url), DAY, clip_settings)
    render.spectrogram_image(np.zeros(clip_settings.window, np.int32), render_settings, clip_settings.sample_rate,
                             clip_settings.clip_seconds)
    for unit in plan.units[:n_files]:
        t0 = time.perf_counter()
        data = clips.read_file(listing_path(unit.file.url), DAY, clip_settings)
        t["decode"] += time.perf_counter() - t0
        for w in clips.cut(unit, data, clip_settings, None):
            if w.reason is not None:
                continue
            t0 = time.perf_counter()
            db = render.spectrogram_db(w.samples, render_settings, clip_settings.sample_rate)
            t1 = time.perf_counter()
            levels = render.to_levels(db, *render.db_limits(db, render_settings))
            t2 = time.perf_counter()
            picture = render.encode_image(levels, render_settings, clip_settings.sample_rate,
                                          clip_settings.clip_seconds)
            t3 = time.perf_counter()
            wav = render.wav_bytes(w.samples, render_settings, clip_settings.sample_rate)
            t4 = time.perf_counter()
            sink.put(f"s/{n}.wav", wav, "audio/wav")
            sink.put(f"s/{n}.{render_settings.image.extension}", picture, render_settings.image.content_type)
            t5 = time.perf_counter()
            for k, a, b in (("spectrogram", t0, t1), ("scaling", t1, t2), ("image_encode", t2, t3),
                            ("wav_encode", t3, t4), ("writes", t4, t5)):
                t[k] += b - a
            n += 1
    per_clip = {k: round(v / n * 1000, 3) for k, v in t.items()}
    per_clip["total"] = round(sum(per_clip.values()), 3)
    return per_clip


def listing_path(url: str) -> str:
    return url[len("file://"):] if url.startswith("file://") else url


def _bare_unit(args):
    unit, out = args
    clip_settings, render_settings = ClipSettings(), RenderSettings()
    nxt = (lambda: listing_path(unit.next_file.url)) if unit.next_file else None
    r = process_file(unit, listing_path(unit.file.url), nxt, DAY, NODE, LocalSink(out), clip_settings, render_settings)
    return len(r.clips), r.peak_rss_mib


def bare(mirror: Path, out: Path, workers: int) -> dict[str, float]:
    """The same files through the core alone: a spawned process pool, one task per file."""
    t0 = time.perf_counter()
    plan = clips.plan_day(DAY, listing.list_day(str(mirror), get_hydrophone(NODE), DAY)[1], ClipSettings())
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_bare_unit, [(u, str(out)) for u in plan.units]))
    seconds = time.perf_counter() - t0
    n = sum(c for c, _ in done)
    return {"seconds": round(seconds, 3), "clips": n, "clips_per_second": round(n / seconds, 1),
            "peak_worker_rss_mib": max(m for _, m in done)}


def flow(source: str, out: Path, workers: int, home: Path, cache: Path) -> dict[str, float]:
    """`whaledr run` as a user runs it; figures from its day manifest."""
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "flows.cli", "run", DAY.isoformat(), "--hydrophone", NODE,
                        "--source", source, "--out", str(out), "--workers", str(workers), "--cache", str(cache)],
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"whaledr run failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    m = json.loads((out / NODE / DAY.strftime("%Y_%m_%d") / "whaledr-day.json").read_text())
    t = m["totals"]
    seconds = m["timings"]["total"]
    return {"seconds": round(seconds, 3), "command_seconds": round(wall, 3), "clips": t["clips"],
            "clips_per_second": round(t["clips"] / seconds, 1),
            "peak_worker_rss_mib": t["peak_worker_rss_mib"],
            "image_bytes_per_clip": round(t["png_bytes"] / max(t["clips_written"], 1)),
            "wav_bytes_per_clip": round(t["wav_bytes"] / max(t["clips_written"], 1))}


def original(mirror: Path, n_clips: int) -> dict[str, float] | None:
    """The original's settings, as its README and code describe them, on `n_clips` clips."""
    if n_clips <= 0:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf
    from matplotlib import mlab

    clip_settings = ClipSettings()
    unit = clips.plan_day(DAY, listing.list_day(str(mirror), get_hydrophone(NODE), DAY)[1], clip_settings).units[0]
    data = clips.read_file(listing_path(unit.file.url), DAY, clip_settings)
    windows = [w for w in clips.cut(unit, data, clip_settings, None) if w.reason is None][:n_clips]
    t0 = time.perf_counter()
    for w in windows:
        x = w.samples.astype(np.float64)
        spec, freqs, times = mlab.specgram(x, NFFT=4096, Fs=clip_settings.sample_rate, noverlap=4096 - 21)
        keep = freqs <= 8000
        db = 10 * np.log10(spec[keep] + 1e-12)
        fig = plt.figure(figsize=(5.12, 5.12), dpi=100)
        ax = fig.add_subplot(111)
        ax.pcolormesh(times, freqs[keep], db, cmap="bone", vmin=db.min(), vmax=db.max(), shading="auto")
        ax.set_xlabel("Time (s)")
        ax.set_ylabel("Frequency (Hz)")
        buf = io.BytesIO()
        fig.savefig(buf, format="jpg")
        plt.close(fig)
        wav = io.BytesIO()
        y = x - x.mean()
        full_scale = (y / np.abs(y).max() * (2**31 - 1)).astype(np.int32)
        sf.write(wav, full_scale, clip_settings.sample_rate, format="WAV", subtype="PCM_32")
    per = (time.perf_counter() - t0) / len(windows)
    return {"clips": len(windows), "seconds_per_clip": round(per, 3)}


def check(figures: dict) -> dict[str, bool | None]:
    out = {}
    for name, (op, limit) in TARGETS.items():
        v = figures.get(name)
        out[name] = None if v is None else (v >= limit if op == ">=" else v <= limit)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=24, help="5-minute files in the synthetic day (288: a whole day)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--original-clips", type=int, default=2, help="clips for the original's settings (0: skip)")
    p.add_argument("--stage-files", type=int, default=2, help="files timed stage by stage")
    p.add_argument("--keep", type=Path, help="work in this folder and keep it")
    a = p.parse_args(argv)
    work = a.keep or Path(tempfile.mkdtemp(prefix="whaledr-bench-"))
    try:
        mirror = work / "mirror"
        if not any(mirror.rglob("*.mseed")):
            log(f"writing {a.files} synthetic files to {mirror} ...")
            write_day(mirror, get_hydrophone(NODE), DAY, SynthOptions(files=a.files))
        log("stages ...")
        st = stages(mirror, a.stage_files, work / "stages")
        log("bare core loop ...")
        b = bare(mirror, work / "bare", a.workers)
        log("whaledr run, folder source ...")
        f = flow(str(mirror), work / "flow", a.workers, work / "prefect-home", work / "cache")
        log("whaledr run, loopback HTTP source ...")
        with serve(mirror) as url:
            hh = flow(url, work / "flow-http", a.workers, work / "prefect-home", work / "cache-http")
        o = original(mirror, a.original_clips)
        ours = st["total"] / 1000
        figures = {
            "flow_clips_per_second": f["clips_per_second"],
            "minutes_per_hydrophone_day": round(17_280 / f["clips_per_second"] / 60, 2),
            "flow_over_bare": round(f["seconds"] / b["seconds"], 3),
            "http_over_local": round(hh["seconds"] / f["seconds"], 3),
            "original_over_ours": round(o["seconds_per_clip"] / ours, 1) if o else None,
            "peak_worker_rss_mib": max(f["peak_worker_rss_mib"], hh["peak_worker_rss_mib"], b["peak_worker_rss_mib"]),
        }
        result = {
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "python": platform.python_version()},
            "files": a.files, "workers": a.workers,
            "stages_ms_per_clip": st, "flow": f, "flow_http": hh, "bare": b, "original": o,
            "figures": figures, "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
            "met": check(figures),
        }
        print(json.dumps(result), flush=True)
        return result
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
