"""The fault-injection suite's figures, for docs "Reliability": runs `tests/test_faults.py` (every
fault on loopback: an OOI server that misbehaves, bad miniSEED, an S3 proxy that throttles and cuts
connections, kill -9, a refused S3 key) and test_ship's refused Firebase secret, then prints what the
tests recorded, as a Markdown table and one JSON line.

    .venv/bin/python -m bench.faults

The exit code is pytest's: the figures count only if every check behind them passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIREBASE_TEST = "test_a_wrong_firebase_credential_is_a_clear_error_that_writes_nothing_and_leaks_nothing"
COLUMNS = [("scenario", "scenario"), ("faults", "faults injected"), ("kinds", "what"), ("files", "files"),
           ("recovered", "files finished by the run"), ("named", "files named as failed"),
           ("finished_by_rerun", "days finished by a rerun"), ("days_completed", "days completed"),
           ("objects_lost", "objects lost"), ("secrets_leaked", "secrets leaked")]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "faults.jsonl"
        env = {**os.environ, "WHALEDR_FAULT_REPORT": str(report)}
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "tests/test_faults.py", f"tests/test_ship.py::{FIREBASE_TEST}"], cwd=ROOT, env=env)
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    print()
    print("| " + " | ".join(title for _, title in COLUMNS) + " |")
    print("|" + " --- |" * len(COLUMNS))
    for row in rows:
        row.setdefault("secrets_leaked", 0)
        print("| " + " | ".join(str(row.get(key, "")) for key, _ in COLUMNS) + " |")
    totals = {key: sum(r.get(key, 0) for r in rows) for key in ("faults", "recovered", "named", "days_completed",
                                                                   "objects_lost", "secrets_leaked")}
    print("| **all** | " + " | ".join(str(totals.get(key, "")) for key, _ in COLUMNS[1:]) + " |")
    print(json.dumps({"tests_passed": tests.returncode == 0, "scenarios": rows, "totals": totals}))
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
