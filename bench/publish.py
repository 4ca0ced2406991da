"""What a publish budget saves: bytes stored and processing time of a day, `all` against a top budget;
ends with one JSON line of figures.

    .venv/bin/python -m bench.publish                 # 6 synthetic files (30 minutes), ~1.5 minutes
    .venv/bin/python -m bench.publish --files 288     # a whole day (long)

A stretch with calls and distractors (`whaledr synth --events 10`) is run twice with `whaledr run`
to local folders: `--publish all`, then the budget, `top:300+random:60` a day by default, scaled to
the stretch's share of a day (at least top:1) so that the share of clips published is a whole
day's. Figures come from the day manifests (`timings.process`: listing to the last file, without
Prefect's start) and from the bytes under each output.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from whaledr_core.publish import parse_budget

DAY = "2019-01-12"
WINDOWS_PER_DAY = 17_280


def whaledr(*args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"whaledr {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def day(out: Path, mirror: Path, publish: str, workers: int) -> dict:
    whaledr("run", DAY, "--source", str(mirror), "--out", str(out), "--publish", publish, "--workers", str(workers),
            "--cache", str(out.parent / "cache"))
    m = json.loads((out / "LJ01D" / "2019_01_12" / "whaledr-day.json").read_text())
    stored = sum(p.stat().st_size for p in (out / "LJ01D").rglob("*") if p.suffix in (".jpg", ".wav"))
    return {"publish": publish, "published": m["totals"]["published"], "clips_stored": m["totals"]["clips"],
            "bytes_stored": stored, "process_seconds": m["timings"]["process"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=6)
    ap.add_argument("--budget", default="top:300+random:60", help="A whole day's budget; scaled to the stretch.")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    budget = parse_budget(a.budget)
    assert budget.top is not None, "compare a top budget with all"
    share = a.files * 60 / WINDOWS_PER_DAY
    scaled = f"top:{max(1, round(budget.top * share))}" + (
        f"+random:{max(1, round(budget.random * share))}" if budget.random else "")
    with tempfile.TemporaryDirectory(prefix="whaledr-publish-") as tmp:
        root = Path(tmp)
        whaledr("synth", str(root / "mirror"), "--date", DAY, "--files", str(a.files), "--events", "10")
        everything = day(root / "all", root / "mirror", "all", a.workers)
        chosen = day(root / "top", root / "mirror", scaled, a.workers)
    print(json.dumps({
        "files": a.files, "budget_per_day": str(budget), "budget_run": scaled, "all": everything, "top": chosen,
        "bytes_ratio": round(everything["bytes_stored"] / max(chosen["bytes_stored"], 1), 1),
        "time_ratio": round(everything["process_seconds"] / chosen["process_seconds"], 2),
    }))


if __name__ == "__main__":
    main()
