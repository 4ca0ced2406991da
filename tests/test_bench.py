"""The benchmark runs end to end on 2 and 3 files and prints one JSON line (its figures are not asserted:
shared machines are noisy; the README keeps the figures of a quiet run)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import parts
from bench.run import budget_for


@pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them
def test_bench_runs_small_and_large_and_breaks_both_paths_down_into_the_same_parts(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench.run", "--small", "2", "--large", "3", "--original-clips", "1",
                        "--workers", "2", "--repeat", "1", "--keep", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    print(lines[-1])
    runs = result["runs"]
    # the flow, its HTTP twin and the budget run saw the same windows; the stage path skips its warm-up file
    for n in (2, 3):
        assert runs[f"flow {n}"]["clips"] == runs[f"http {n}"]["clips"] == 60 * n
        assert runs[f"stages {n}"]["clips"] == 60 * (n - 1)
        budget = runs[f"budget {n}"]
        top, random = (int(x.split(":")[1]) for x in budget_for(60 * n).split("+"))
        assert budget["published"] == top + random and budget["windows"] == runs[f"flow {n}"]["windows"] == 60 * n
        assert budget["stored_bytes"] < runs[f"flow {n}"]["stored_bytes"]
    named = {name for name, _ in parts.PARTS} | {parts.SERVER, parts.ORCHESTRATION, parts.OTHER}
    for path in ("stages", "flow"):  # on 2 and 3 files the steady-state difference is noise: look at the samples
        assert set(result["parts_ms_per_clip"][path]) <= named
        sampled = result["parts_ms_per_clip"]["samples"][f"{path} 3"]
        assert set(sampled) <= named and all(sampled[p] > 0 for p in ("decode", "spectrogram", "image encode"))
    assert parts.SERVER in result["parts_ms_per_clip"]["samples"]["flow 3"]
    figures = result["figures"]
    assert result["original"]["clips"] == 1 and figures["original_core_s_per_clip"] > 0
    assert 0 < figures["peak_worker_rss_mib"] < 24 * 1024 and figures["largest_process_rss_mib"] > 0
    assert set(figures["node_day_all"]) == set(figures["node_day_budget"]) == {
        "wall_minutes", "core_minutes", "fixed_wall_seconds"}
    assert set(result["met"]) == set(result["targets"])


def test_a_sample_goes_to_the_first_part_one_of_its_frames_names_and_waits_are_dropped(tmp_path):
    # lines in the form py-spy 0.4.3 writes with `record --format raw --subprocesses` (one per distinct stack:
    # process "PID:cmdline" frames from the parent down, then "function (file:line)" frames, then a count),
    # as in the runs of bench.run on this project's machine
    raw = tmp_path / "raw.txt"
    worker = 'process 1:"python -m flows.cli run";process 2:"python -c from multiprocessing.spawn import spawn_main"'
    server = 'process 1:"python -m flows.cli run";process 3:"python -m uvicorn --app-dir x prefect.server.api"'
    raw.write_text("\n".join([
        f"{worker};process_file (whaledr_core/fileclips.py:200);spectrogram_db (whaledr_core/render.py:167) 7",
        f"{worker};process_file (whaledr_core/fileclips.py:179);score (whaledr_core/fileclips.py:176);"
        "clip_responses (whaledr_core/score.py:301);spectrogram_db (whaledr_core/render.py:167) 2",
        f"{worker};process_file (whaledr_core/fileclips.py:150) 1",
        f"{server};Connection._execute (aiosqlite/core.py:100) 4",
        f"{server};BaseEventLoop._run_once (asyncio/base_events.py:1);EpollSelector.select (selectors.py:468) 50",
        'process 1:"python -m flows.cli run";run_task_sync (prefect/task_engine.py:1) 3',
        # one sample broken over three lines, as a server's name with a carriage return once came out
        f'{server[:-1]} --lifespan on";\r\n (\n;Connection._execute (aiosqlite/core.py:100) 5',
        # and one broken right after a number, which must not be read as a count
        f'{server[:-1]} --port 4200\r\n --lifespan on";Connection._execute (aiosqlite/core.py:100) 2',
    ]) + "\n")
    assert parts.samples(raw) == {"spectrogram": 7, "score": 2, "rest of process_file": 1, parts.SERVER: 11,
                                  parts.ORCHESTRATION: 3}
    small = parts.samples(raw)
    large = small + small
    assert parts.per_clip(small, large, 10, 12) == {
        "spectrogram": 3.5, parts.SERVER: 5.5, parts.ORCHESTRATION: 1.5, "score": 1.0, "rest of process_file": 0.5}


def test_the_detect_bench_saturates_counts_beyond_int32_instead_of_wrapping():
    from bench.detect import counts

    # float32, as the bench's days are: 2**31 - 1 is not a float32, and the old clip cast 5.2e9 to -2**31
    x = np.array([5.19e9, -5e9, 2.5e9, 3.0, -2.6], np.float32)
    assert counts(x).tolist() == [2**31 - 1, -(2**31), 2**31 - 1, 3, -3]
