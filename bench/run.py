"""How fast and how lean the pipeline is on this machine, ending with one JSON line of figures.

    .venv/bin/python -m bench.run                     # 6 and 30 synthetic files, 2 workers (~10 minutes)
    .venv/bin/python -m bench.run --no-profile        # without py-spy's breakdown (~7 minutes)

Every figure is core time (user + system CPU of every process of the run: the CLI and its flow, the
private Prefect server, the workers) at steady state: a run of `--large` files less a run of
`--small` files, divided by the clips between them, so that start-up, imports and the server's
start fall out. Ratios are measured in one run: absolute times on a shared machine move by up to
2x from day to day, so the stage path is printed beside them as this machine's yardstick.

- stages: the core alone, `process_file` over the files in one process (bench/stages.py);
- flow: `whaledr run` as a user runs it (Prefect flow, worker processes, local folder output), with
  the mirror as a folder and again served over loopback HTTP, and once with a typical budget;
- original: the original's settings (mlab.specgram, nfft 4096, a 21-sample hop, a matplotlib
  figure per clip, int32 WAV) on a few clips;
- parts: py-spy's samples of the stage path and of the flow, sorted into the same parts
  (bench/parts.py), as ms of core time per clip;
- memory: the peak resident memory of each worker (its VmHWM) and of the run's largest process;
- node-day: the fixed cost plus 17,280 clips at the steady rate, for `all` and for a typical budget.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from whaledr_core import clips, listing
from whaledr_core.catalog import get_hydrophone
from whaledr_core.clips import ClipSettings
from whaledr_core.mirror import serve
from whaledr_core.synth import SynthOptions, write_day

from . import parts
from .stages import DAY, NODE, local

ROOT = Path(__file__).resolve().parent.parent
WINDOWS_PER_DAY = 17_280
TYPICAL_BUDGET = (300, 60)
"""top:300+random:60, the budget docs "Which clips reach volunteers" suggests."""
TARGETS = {
    "flow_over_stages": ("<=", 1.25),
    "original_over_flow": (">=", 1000),
    "http_over_folder": ("<=", 1.15),
    "peak_worker_rss_mib": ("<=", 400),
    "largest_process_rss_mib": ("<=", 450),
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Tree:
    """Peak resident memory of every process under `pid`, polled while it runs."""

    def __init__(self) -> None:
        self.peak: dict[int, tuple[float, str]] = {}

    def poll(self, pid: int) -> None:
        import psutil

        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                rss = p.memory_info().rss / 2**20
                name = " ".join(p.cmdline())[:80]
            except psutil.Error:
                continue
            if rss > self.peak.get(p.pid, (0.0, ""))[0]:
                self.peak[p.pid] = (rss, name)

    def largest(self) -> tuple[float, str]:
        return max(self.peak.values(), default=(0.0, ""))


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def whaledr_run(source: str, out: Path, home: Path, cache: Path, workers: int,
                extra: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `whaledr run` into an empty `out`, with its own Prefect home."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)  # a private server for the run, as a user's plain `whaledr run` starts
    return [sys.executable, "-m", "flows.cli", "run", DAY.isoformat(), "--hydrophone", NODE, "--source", source,
            "--out", str(out), "--workers", str(workers), "--cache", str(cache), *extra], env


def flow(source: str, out: Path, home: Path, cache: Path, workers: int, extra: tuple[str, ...] = ()) -> dict:
    """`whaledr run` as a user runs it: its core time (every process, reaped), wall time and memory."""
    cmd, env = whaledr_run(source, out, home, cache, workers, extra)
    tree, cpu0, t0 = Tree(), child_cpu(), time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    while proc.poll() is None:
        tree.poll(proc.pid)
        time.sleep(0.1)
    stdout, stderr = proc.communicate()
    wall, cpu = time.perf_counter() - t0, child_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"whaledr run failed ({proc.returncode}):\n{stdout}\n{stderr}")
    m = json.loads((out / NODE / DAY.strftime("%Y_%m_%d") / "whaledr-day.json").read_text())
    t = m["totals"]
    largest = tree.largest()
    return {"cpu": round(cpu, 3), "wall": round(wall, 3), "clips": t["clips"],
            "windows": t["clips"] + sum(t["skipped_by_reason"].get(k, 0) for k in ("not_stored", "short")),
            "published": t["published"],
            "stored_bytes": t["png_bytes"] + t["wav_bytes"], "peak_worker_rss_mib": t["peak_worker_rss_mib"],
            "largest_process_rss_mib": round(largest[0], 1), "largest_process": largest[1]}


def stages(mirror: Path, files: int, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cpu0 = child_cpu()
    r = subprocess.run([sys.executable, "-m", "bench.stages", str(mirror), str(files), str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"bench.stages failed:\n{r.stderr}")
    inside = json.loads(r.stdout.strip().splitlines()[-1])
    return {**inside, "cpu": round(child_cpu() - cpu0, 3)}


def steady(small: dict, large: dict, count: str = "clips") -> float:
    """Core ms per clip (or per `count`) between a small and a large run: fixed costs fall out."""
    return (large["cpu"] - small["cpu"]) / (large[count] - small[count]) * 1000


def node_day(small: dict, large: dict, count: str) -> dict[str, float]:
    """A whole hydrophone-day on this machine: the fixed cost plus 17,280 windows at the steady rate."""
    per_wall = (large["wall"] - small["wall"]) / (large[count] - small[count])
    per_cpu = (large["cpu"] - small["cpu"]) / (large[count] - small[count])
    fixed_wall = small["wall"] - small[count] * per_wall
    fixed_cpu = small["cpu"] - small[count] * per_cpu
    return {"wall_minutes": round((fixed_wall + WINDOWS_PER_DAY * per_wall) / 60, 1),
            "core_minutes": round((fixed_cpu + WINDOWS_PER_DAY * per_cpu) / 60, 1),
            "fixed_wall_seconds": round(fixed_wall, 1)}


def budget_for(windows: int) -> str:
    """The typical budget, scaled to a run of `windows` windows (at least one of each kind)."""
    top, random = (max(1, round(n * windows / WINDOWS_PER_DAY)) for n in TYPICAL_BUDGET)
    return f"top:{top}+random:{random}"


def profile(work: Path, mirrors: dict[int, Path], workers: int, stage_core: float, flow_core: float) -> dict:
    """py-spy's breakdown of the stage path and of the flow into the same parts, ms of core time per clip,
    and the raw samples of each part in each run (`samples`: on a few files the difference is noise)."""
    out: dict[str, dict] = {}
    counts: dict[str, dict[int, tuple]] = {"stages": {}, "flow": {}}
    for n, mirror in mirrors.items():
        raw, spy_out = work / f"stages-{n}.txt", work / f"spy-stages-{n}"
        shutil.rmtree(spy_out, ignore_errors=True)  # as every run: a write over a kept run's file costs more
        cmd, env = whaledr_run(str(mirror), work / f"spy-flow-{n}", work / "prefect-home", work / "cache", workers)
        r = parts.record([sys.executable, "-m", "bench.stages", str(mirror), str(n), str(spy_out)],
                         raw, env, ROOT)
        said = [line for line in r.stdout.splitlines() if line.startswith("{")]  # py-spy talks on stdout too
        if r.returncode != 0 or not said:
            raise SystemExit(f"bench.stages under py-spy failed:\n{r.stdout}\n{r.stderr}")
        counts["stages"][n] = (parts.samples(raw), json.loads(said[-1])["clips"])
        raw = work / f"flow-{n}.txt"
        r = parts.record(cmd, raw, env, ROOT)
        if r.returncode != 0:
            raise SystemExit(f"whaledr run under py-spy failed:\n{r.stderr}")
        counts["flow"][n] = (parts.samples(raw), n * 60)
    for path, core in (("stages", stage_core), ("flow", flow_core)):
        (small, c_small), (large, c_large) = (counts[path][n] for n in sorted(counts[path]))
        out[path] = parts.per_clip(small, large, c_large - c_small, core)
    out["samples"] = {f"{path} {n}": dict(c) for path, by_n in counts.items() for n, (c, _) in by_n.items()}
    return out


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
    data = clips.read_file(local(unit.file.url), DAY, clip_settings)
    windows = [w for w in clips.cut(unit, data, clip_settings, None) if w.reason is None][: n_clips + 1]
    t0 = start = time.process_time()  # core time: the original made one clip after another in one process
    first = 0.0
    for i, w in enumerate(windows):
        if i == 1:  # the first clip only warms up (matplotlib's fonts and caches), as for our stage path
            t0 = time.process_time()
            first = t0 - start
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
    per = (time.process_time() - t0) / (len(windows) - 1)
    # the first clip, warm-up included, is printed beside the figure: issue 16's 9.5 s averaged it in
    return {"clips": len(windows) - 1, "core_seconds_per_clip": round(per, 3),
            "first_clip_core_seconds": round(first, 3)}



def check(figures: dict) -> dict[str, bool | None]:
    out = {}
    for name, (op, limit) in TARGETS.items():
        v = figures.get(name)
        out[name] = None if v is None else (v >= limit if op == ">=" else v <= limit)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", type=int, default=6, help="5-minute files in the small run")
    p.add_argument("--large", type=int, default=30, help="5-minute files in the large run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--original-clips", type=int, default=2, help="clips for the original's settings (0: skip)")
    p.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                   help="break the time down by part with py-spy")
    p.add_argument("--budget", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the typical budget for its node-day figure")
    p.add_argument("--repeat", type=int, default=3, help="runs of each kind; the one with the least core time counts")
    p.add_argument("--keep", type=Path, help="work in this folder and keep it")
    a = p.parse_args(argv)
    if not 2 <= a.small < a.large:
        p.error("need 2 <= --small < --large (the stage path's first file only warms up)")
    work = a.keep or Path(tempfile.mkdtemp(prefix="whaledr-bench-"))
    try:
        mirrors = {n: work / f"mirror-{n}" for n in (a.small, a.large)}
        for n, mirror in mirrors.items():
            if not any(mirror.rglob("*.mseed")):
                log(f"writing {n} synthetic files to {mirror} ...")
                write_day(mirror, get_hydrophone(NODE), DAY, SynthOptions(files=n))
        home, tries = work / "prefect-home", collections.defaultdict(list)
        for attempt in range(a.repeat):  # interleaved, so that a busy minute on the machine hits every kind
            for n, mirror in mirrors.items():
                log(f"{n} files ({attempt + 1} of {a.repeat}): stages, flow from a folder, over loopback HTTP"
                    f"{', with a budget' if a.budget and attempt == 0 else ''} ...")
                tries["stages", n].append(stages(mirror, n, work / "stages"))
                tries["flow", n].append(flow(str(mirror), work / "flow", home, work / "cache", a.workers))
                with serve(mirror) as url:
                    cache = work / f"cache-http-{n}-{attempt}"
                    tries["http", n].append(flow(url, work / "flow-http", home, cache, a.workers))
                if a.budget and attempt == 0:
                    tries["budget", n].append(flow(str(mirror), work / "flow-budget", home, work / "cache",
                                                   a.workers, ("--publish", budget_for(n * 60))))
        runs = {k: min(v, key=lambda r: r["cpu"]) for k, v in tries.items()}  # the least disturbed of each
        S, L = a.small, a.large
        stage_core = steady(runs["stages", S], runs["stages", L])
        flow_core = steady(runs["flow", S], runs["flow", L])
        http_core = steady(runs["http", S], runs["http", L])
        o = original(mirrors[S], a.original_clips)
        breakdown = profile(work, mirrors, a.workers, stage_core, flow_core) if a.profile else None
        flows = [runs[k, n] for k in ("flow", "http", "budget") for n in (S, L) if (k, n) in runs]
        largest = max(flows, key=lambda r: r["largest_process_rss_mib"])
        figures = {
            "stage_core_ms_per_clip": round(stage_core, 2),
            "flow_core_ms_per_clip": round(flow_core, 2),
            "http_core_ms_per_clip": round(http_core, 2),
            "flow_over_stages": round(flow_core / stage_core, 3),
            "http_over_folder": round(http_core / flow_core, 3),
            "original_core_s_per_clip": o["core_seconds_per_clip"] if o else None,
            "original_over_flow": round(o["core_seconds_per_clip"] * 1000 / flow_core) if o else None,
            "peak_worker_rss_mib": max(r["peak_worker_rss_mib"] for r in flows),
            "largest_process_rss_mib": largest["largest_process_rss_mib"],
            "largest_process": largest["largest_process"],
            "node_day_all": node_day(runs["flow", S], runs["flow", L], "clips"),
            "node_day_budget": node_day(runs["budget", S], runs["budget", L], "windows") if a.budget else None,
            "budget_stored_bytes_fall": round(runs["flow", L]["stored_bytes"] / runs["budget", L]["stored_bytes"], 1)
            if a.budget else None,
        }
        result = {
            "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                        "python": platform.python_version()},
            "small": S, "large": L, "workers": a.workers, "typical_budget": "top:{}+random:{}".format(*TYPICAL_BUDGET),
            "runs": {f"{k} {n}": v for (k, n), v in runs.items()}, "original": o,
            "parts_ms_per_clip": breakdown,
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
