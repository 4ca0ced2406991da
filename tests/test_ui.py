"""What the Prefect UI tells an operator, read through a real server's API: `whaledr serve` with its
defaults, a day with the default budget, a day without data, a backfill over them and a day whose
only file cannot be read, and the daily run of the day without data (docs, "What the UI tells")."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_scale_out import api, wait_for_run

from flows.params import SAFE_BUDGET
from whaledr_core import daymanifest

from conftest import DAY, assert_no_traceback, free_port, run_cli

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them

ROOT = Path(__file__).parent.parent
EMPTY, BAD = DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
"""A day without a folder; a day whose only file is not miniSEED."""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`whaledr serve` on loopback with prefect.yaml's defaults, a folder output and a mirror of DAY
    (one file), nothing for EMPTY and an unreadable file for BAD."""
    root = tmp_path_factory.mktemp("ui")
    mirror = root / "mirror"
    r = run_cli("synth", str(mirror), "--date", DAY.isoformat(), "--files", "1", "--seed", "12")
    assert r.returncode == 0, r.stderr
    bad = next(mirror.rglob(f"{DAY:%Y/%m/%d}")).parent.parent.parent / f"{BAD:%Y/%m/%d}"
    bad.mkdir(parents=True)
    (bad / f"OO-HYEA2--YDH-{BAD:%Y-%m-%d}T00:00:00.000015Z.mseed").write_bytes(os.urandom(100_000))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(root / "home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = root / "serve.log"
    serve = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--out",
                              str(root / "out"), "--source", str(mirror)], env=env, cwd=ROOT,
                             stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while "being served" not in log.read_text():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}, root / "out"
    finally:
        serve.terminate()
        code = serve.wait(60)
    assert code == 0, log.read_text()[-3000:]
    assert_no_traceback(log.read_text(), "whaledr serve's output")
    assert_no_traceback((root / "home" / "whaledr-server.log").read_text(), "the server log of whaledr serve")


def start(env: dict, deployment: str, parameters: dict, scheduled: dt.datetime | None = None) -> dict:
    """A run of one of serve's deployments, waited for until it ends."""
    deployment_id = next(d["id"] for d in api(env, "POST", "/deployments/filter", {}) if d["name"] == deployment)
    body: dict = {"parameters": parameters, "idempotency_key": str(uuid.uuid4())}
    if scheduled:
        body["state"] = {"type": "SCHEDULED", "state_details": {"scheduled_time": scheduled.isoformat()}}
    run = api(env, "POST", f"/deployments/{deployment_id}/create_flow_run", body)
    return wait_for_run(env, run["id"], timeout=600)


def day_runs(env: dict) -> dict[str, dict]:
    flows = {f["id"]: f["name"] for f in api(env, "POST", "/flows/filter", {})}
    return {r["name"]: r for r in api(env, "POST", "/flow_runs/filter", {}) if flows[r["flow_id"]] == "whaledr-day"}


def tasks_of(env: dict, run_id: str) -> dict[str, dict]:
    return {t["name"]: t for t in api(env, "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})}


def artifacts_of(env: dict, run_id: str) -> dict[str, dict]:
    return {a["key"] or a["type"]: a for a in api(env, "POST", "/artifacts/filter", {}) if a["flow_run_id"] == run_id}


def test_serve_offers_forms_that_publish_a_budget_by_default_and_a_schedule_in_utc(served):
    """The deployments `whaledr serve` made publish top:40+random:10 unless asked otherwise, their forms
    have no "X or None" field, `selection` follows the day and hydrophone, and the daily one runs at 06:00 UTC."""
    env, _ = served
    deployments = {d["name"]: d for d in api(env, "POST", "/deployments/filter", {})}
    for name, first in (("day", ["day", "hydrophone"]), ("backfill", ["start", "end", "hydrophones"]),
                        ("daily", ["hydrophones"])):
        d = deployments[name]
        assert d["parameters"]["selection"]["publish"] == SAFE_BUDGET, name
        schema = d["parameter_openapi_schema"]
        order = sorted(schema["properties"], key=lambda p: schema["properties"][p]["position"])
        assert order[: len(first) + 1] == [*first, "selection"], (name, order)
        assert "anyOf" not in json.dumps(schema) and "null" not in json.dumps(schema), name
    (schedule,) = deployments["daily"]["schedules"]
    assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == ("0 6 * * *", "UTC")


def test_a_budget_day_a_no_data_day_and_a_backfill_over_both_say_what_happened_where_people_look(served):
    """Every day run ends with its summary as its state message; a backfill ends with its days complete,
    failed and without data; the wrapper task run of a failed day is Failed, and so is that of a day
    without files, for which no day run starts; no day runs twice; the progress artifact counts what was
    stored and published; the overview artifact embeds the picture; a daily run is named for its day."""
    env, out = served
    day = start(env, "day", {"day": DAY.isoformat()})
    record = json.loads((out / "LJ01D" / f"{DAY:%Y_%m_%d}" / "whaledr-day.json").read_text())
    assert day["state_type"] == "COMPLETED", day["state"]
    assert re.sub(r" in [0-9.]+ s;", ";", day["state"]["message"]) == daymanifest.summary_line(record)
    assert (record["publish"]["budget"], record["totals"]["published"], record["totals"]["clips"]) == \
        (SAFE_BUDGET, 50, 50)  # the deployment's default budget: 50 of the file's 60 clips
    arts = artifacts_of(env, day["id"])
    assert arts["progress"]["data"] == 100.0
    assert arts["progress"]["description"].endswith(f"{len(record['scores'])} windows scored, 50 clips stored, "
                                                    "50 published")
    png = (out / "LJ01D" / f"{DAY:%Y_%m_%d}" / "overview.png").read_bytes()
    overview = arts[f"whaledr-overview-lj01d-{DAY}"]["data"]
    assert f"](data:image/png;base64,{base64.b64encode(png).decode()})" in overview  # the picture, inline

    empty = start(env, "day", {"day": EMPTY.isoformat()})
    assert empty["state_type"] == "FAILED"
    assert empty["state"]["message"].startswith(f"no data files for LJ01D on {EMPTY}: no day folder at ")

    backfill = start(env, "backfill", {"start": DAY.isoformat(), "end": BAD.isoformat()})
    runs = day_runs(env)
    assert set(runs) == {f"LJ01D {DAY}", f"LJ01D {EMPTY}", f"LJ01D {DAY} (backfill)", f"LJ01D {BAD} (backfill)"}
    assert all(r["run_count"] == 1 for r in runs.values())  # the no-data day ran once, the bad day too
    assert runs[f"LJ01D {BAD} (backfill)"]["tags"] == ["backfill"]
    for name, r in runs.items():  # every day run says what it came to
        node, day_ = name.split()[:2]
        assert r["state"]["message"].startswith((f"{node} {day_}: ", f"no data files for {node} on {day_}")), r
    bad = runs[f"LJ01D {BAD} (backfill)"]
    assert bad["state_type"] == "FAILED" and "INCOMPLETE (1 files failed); failed: OO-HYEA2" in bad["state"]["message"]
    assert runs[f"LJ01D {DAY} (backfill)"]["parameters"]["selection"]["publish"] == SAFE_BUDGET
    assert backfill["state_type"] == "FAILED"
    message = backfill["state"]["message"]
    assert message.startswith(f"3 days: 1 complete, 1 failed, 1 no data; 50 clips published. Failed: LJ01D {BAD}: "
                              "1 files, 0 clips written"), message
    assert message.endswith(f". No data: LJ01D {EMPTY}"), message
    tasks = tasks_of(env, backfill["id"])
    assert {n: t["state_type"] for n, t in tasks.items() if n.startswith("LJ01D")} == {
        f"LJ01D {DAY}": "COMPLETED", f"LJ01D {EMPTY}": "FAILED", f"LJ01D {BAD}": "FAILED"}
    assert tasks[f"LJ01D {BAD}"]["state"]["message"] == bad["state"]["message"]
    assert tasks[f"LJ01D {EMPTY}"]["state"]["message"].endswith(": no day run was started")
    arts = artifacts_of(env, backfill["id"])
    table = arts["whaledr-backfill"]["data"]
    rows = {row["day"]: row for row in (table if isinstance(table, list) else json.loads(table))}
    assert (rows[str(DAY)]["status"], rows[str(DAY)]["published"]) == ("Completed", 50)
    assert rows[str(EMPTY)]["status"] == "no data" and rows[str(BAD)]["reason"] == bad["state"]["message"]
    days = arts["whaledr-backfill-days"]["data"]
    for name in (f"LJ01D {DAY} (backfill)", f"LJ01D {BAD} (backfill)"):  # each day's run, linked
        assert f"[{name}](http://127.0.0.1:" in days and f"/runs/flow-run/{runs[name]['id']}?tab=Details)" in days

    at = dt.datetime.combine(EMPTY + dt.timedelta(days=1), dt.time(6), dt.UTC)  # as the scheduler makes it
    daily = start(env, "daily", {}, scheduled=at)
    assert daily["name"] == f"daily {EMPTY}" and daily["state_type"] == "FAILED"  # so that its alert fires
    assert daily["state"]["message"] == f"1 day: 0 complete, 0 failed, 1 no data; 0 clips published. " \
        f"No data: LJ01D {EMPTY}"
    assert tasks_of(env, daily["id"])[f"LJ01D {EMPTY}"]["state_type"] == "FAILED"
    assert set(day_runs(env)) == set(runs)  # still one run of the day without data
