"""prefect.yaml as the one description of our deployments: `prefect deploy --all` reads it for a work
pool, `whaledr serve` reads it to run the same deployments from one process, and a worker's pull
step enters the checkout it came from.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
"""The checkout this package is installed from (`pip install -e .`)."""

PROJECT_FILE = ROOT / "prefect.yaml"


def deployments() -> list[dict[str, Any]]:
    return yaml.safe_load(PROJECT_FILE.read_text())["deployments"]


def enter_checkout(git_pull: bool = False) -> dict[str, str]:
    """A pull step: run the flow from the git checkout whaledr is installed from on this machine
    (each worker machine has one: clone, `pip install -e .`, start a worker). With `git_pull`, bring
    it up to date first (`git pull --ff-only`); off by default, so that a run never changes the
    code under another run in progress."""
    if not (ROOT / ".git").exists():
        raise RuntimeError(f"{ROOT} is not a git checkout: install whaledr with `pip install -e .` from a clone")
    if git_pull:
        subprocess.run(["git", "-C", str(ROOT), "pull", "--ff-only"], check=True)
    os.chdir(ROOT)
    return {"directory": str(ROOT)}


def served(overrides: dict[str, Any]) -> list:
    """prefect.yaml's deployments as `RunnerDeployment`s for `prefect.serve`, with the same
    entrypoints, schedules and parameters; `overrides` replace parameters a flow takes (a dict,
    such as `{"output": {"s3_block": ...}}`, replaces only the fields it names)."""
    import inspect

    from prefect.deployments.runner import EntrypointType
    from prefect.flows import Flow, load_flow_from_entrypoint
    from prefect.schedules import Cron

    out = []
    for d in deployments():
        flow: Flow[..., Any] = load_flow_from_entrypoint(d["entrypoint"])
        takes = inspect.signature(flow.fn).parameters
        params = dict(d.get("parameters", {}))
        for k, v in overrides.items():
            if k in takes:
                params[k] = {**params.get(k, {}), **v} if isinstance(v, dict) else v
        schedules = [Cron(s["cron"], timezone=s.get("timezone")) for s in d.get("schedules", []) if s.get("cron")]
        out.append(flow.to_deployment(name=d["name"], description=d.get("description"), parameters=params,
                                      schedules=schedules, entrypoint_type=EntrypointType.MODULE_PATH))
    return out
