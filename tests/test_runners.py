"""Both task runners (`--task-runner lean`, the default, and `prefect`, Prefect's ProcessPoolTaskRunner)
make the same day, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DAY, run_cli

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them

DAY_MANIFEST = Path("LJ01D") / f"{DAY:%Y_%m_%d}" / "whaledr-day.json"


def without_run_specifics(m: dict) -> dict:
    """A day manifest less what says how this run went rather than what it made: its timings and
    the workers' memory."""
    m = dict(m, timings=None, totals={k: v for k, v in m["totals"].items() if k != "peak_worker_rss_mib"})
    m["files"] = [{k: v for k, v in f.items() if k not in ("seconds", "peak_rss_mib")} for f in m["files"]]
    m["repairs"] = [{k: v for k, v in r.items() if k != "seconds"} for r in m["repairs"]]
    return m


def everything(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("how", [
    ("from a folder, every clip", ()),
    ("over HTTP, a top budget: scored first, the chosen clips encoded after", ("top:20+random:5",)),
])
def test_a_day_on_either_task_runner_is_the_same_byte_for_byte(how, synth_mirror, static_server, tmp_path,
                                                                prefect_api):
    """Every clip's WAV and image, the overview, the app manifest and the day manifest (less its
    timings and memory figures) are identical on Prefect's process pool and on the lean pool, for a
    day of one pass (from a folder) and of two (downloads, a budget's scoring pass, then its encoding
    pass). Neither leaves a staging folder behind."""
    _, budget = how
    source = static_server(synth_mirror).url if budget else str(synth_mirror)
    outputs = {}
    for runner in ("lean", "prefect"):
        out = tmp_path / runner
        args = ["run", DAY.isoformat(), "--source", source, "--out", str(out), "--workers", "2", "--task-runner",
                runner, "--cache", str(tmp_path / f"cache-{runner}")]
        r = run_cli(*args, *(("--publish", budget[0]) if budget else ()), env=prefect_api)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "complete" in r.stdout.strip().splitlines()[-1]
        outputs[runner] = everything(out)
        assert not (out / ".staging").exists()
    lean, prefect = outputs["lean"], outputs["prefect"]
    assert sorted(lean) == sorted(prefect)
    clips = [k for k in lean if k.endswith((".wav", ".jpg"))]
    assert len(clips) == 2 * (25 if budget else 179)
    different = [k for k in lean if k != DAY_MANIFEST.as_posix() and lean[k] != prefect[k]]
    assert different == []
    day = {runner: json.loads(files[DAY_MANIFEST.as_posix()]) for runner, files in outputs.items()}
    assert without_run_specifics(day["lean"]) == without_run_specifics(day["prefect"])
    assert day["lean"]["totals"]["clips"] == (25 if budget else 179)


def test_the_task_runner_is_checked_before_any_server_starts(tmp_path):
    """A runner that does not exist costs one line and exit 2."""
    r = run_cli("run", DAY.isoformat(), "--source", str(tmp_path), "--task-runner", "threads",
                env={"PREFECT_HOME": str(tmp_path / "home")}, timeout=120)
    assert r.returncode == 2 and "--task-runner takes lean or prefect (got 'threads')" in r.stderr, r.stderr
    assert not (tmp_path / "home").exists()
