"""Figures of the fault-injection tests, for docs "Reliability": `python -m bench.faults` runs the
tests with WHALEDR_FAULT_REPORT set and makes the table from what they record here."""

from __future__ import annotations

import json
import os


def record(scenario: str, **figures) -> None:
    path = os.environ.get("WHALEDR_FAULT_REPORT")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"scenario": scenario, **figures}) + "\n")
