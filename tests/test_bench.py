"""The benchmark runs end to end on 2 files and prints one JSON line (its figures are not asserted:
shared machines are noisy; the README keeps the figures of a quiet run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them


def test_bench_runs_on_two_files_and_prints_its_json(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bench.run", "--files", "2", "--original-clips", "1",
                        "--stage-files", "1", "--workers", "2", "--keep", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    print(lines[-1])
    assert result["files"] == 2
    # the flow, its HTTP twin and the bare loop did the same work
    assert result["flow"]["clips"] == result["flow_http"]["clips"] == result["bare"]["clips"] == 120
    assert set(result["stages_ms_per_clip"]) == {"decode", "spectrogram", "scaling", "image_encode", "wav_encode",
                                                 "writes", "total"}
    assert all(v > 0 for v in result["stages_ms_per_clip"].values())
    assert result["original"]["clips"] == 1 and result["figures"]["original_over_ours"] > 1
    assert 0 < result["figures"]["peak_worker_rss_mib"] < 24 * 1024
    assert result["flow"]["wav_bytes_per_clip"] == 44 + 2 * 5 * 64_000
    assert set(result["met"]) == set(result["targets"])
