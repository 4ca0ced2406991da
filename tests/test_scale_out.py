"""Scale-out on real parts over loopback: a `prefect server start`, a process work pool with two
workers fed by `prefect deploy --all`, and a Dask scheduler with two Dask workers."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import DAY, PrefectServer, assert_no_traceback, free_port, run_cli

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent
DAYS = [DAY + dt.timedelta(days=i) for i in range(3)]


class Processes:
    """Background processes of a test, each logging to a file, all stopped at the end."""

    def __init__(self, folder: Path, env: dict) -> None:
        self.folder, self.env, self.procs = folder, env, []

    def start(self, name: str, *args: str) -> Path:
        log = self.folder / f"{name}.log"
        self.procs.append(subprocess.Popen(list(args), env=self.env, cwd=ROOT, stdout=log.open("wb"),
                                           stderr=subprocess.STDOUT, start_new_session=True))
        return log

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`prefect server start` on a free loopback port, with every service on (scheduler included)."""
    folder = tmp_path_factory.mktemp("prefect-server")
    prefect_server = PrefectServer(folder, {"PREFECT_WORKER_QUERY_SECONDS": "2"})
    procs = Processes(folder, prefect_server.env)
    yield prefect_server.env, procs
    procs.stop()
    prefect_server.stop()
    prefect_server.assert_clean_log()


def api(env: dict, method: str, path: str, body: dict | None = None):
    """One call to the server's REST API. 429 and 503 ask the client to come back (Prefect answers 503 when
    its database refused the request, which it rolled back; CI met one with SQLite busy): like Prefect's own
    client, ask again. The POSTs that create runs carry an idempotency key besides."""
    for wait in (0.5, 1, 2, 4, 8, None):
        r = httpx.request(method, env["PREFECT_API_URL"] + path, json=body, timeout=30)
        if r.status_code not in (429, 503) or wait is None:
            break
        time.sleep(wait)
    r.raise_for_status()
    return r.json()


def prefect(env: dict, *args: str) -> str:
    r = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def wait_for_run(env: dict, run_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api(env, "GET", f"/flow_runs/{run_id}")
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(2)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout} s")


def day_runs(env: dict) -> list[dict]:
    flows = {f["id"]: f["name"] for f in api(env, "POST", "/flows/filter", {})}
    return [r for r in api(env, "POST", "/flow_runs/filter", {}) if flows[r["flow_id"]] == "whaledr-day"]


def ran(worker_log: str, run_id: str) -> bool:
    """Whether this worker ran the flow run: both workers may try to submit it, and the loser logs
    that the server aborted its submission."""
    return f"submitting flow run '{run_id}'" in worker_log and \
        f"Aborted submission of flow run '{run_id}'" not in worker_log


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def three_days(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mirror3")
    for day in DAYS:
        r = run_cli("synth", str(root), "--date", day.isoformat(), "--files", "1", "--seed", str(day.day))
        assert r.returncode == 0, r.stderr
    return root


# First in the module: the module's server, its two Prefect workers and the Dask cluster start with
# the tests after it, so they are not yet loading the two cores while serve's own server runs.
def test_serve_keeps_the_daily_schedule_with_the_ui_and_runs_the_day_before_the_scheduled_time(three_days, tmp_path):
    port, out = free_port(), tmp_path / "out"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "serve.log"
    serve = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--out", str(out),
                              "--source", str(three_days), "--publish", "top:20+random:5"], env=env, cwd=ROOT,
                             stdout=log.open("wb"), stderr=subprocess.STDOUT)
    api_env = {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    try:
        deadline = time.monotonic() + 180
        while "being served" not in log.read_text():
            assert serve.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        assert f"Prefect UI: http://127.0.0.1:{port}" in log.read_text()
        assert "<html" in httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text.lower()
        ui = httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=10).json()
        assert ui["api_url"] == api_env["PREFECT_API_URL"]  # the UI's pages ask this server, not port 4200
        deployments = {d["name"]: d for d in api(api_env, "POST", "/deployments/filter", {})}
        assert set(deployments) == {"daily", "backfill", "day"}
        assert [s["schedule"]["cron"] for s in deployments["daily"]["schedules"]] == ["0 6 * * *"]
        # the server's scheduler itself puts the next days' runs on the calendar, each at 06:00 UTC
        scheduled = scheduled_runs(api_env, deployments["daily"]["id"], timeout=180)
        times = [dt.datetime.fromisoformat(r["expected_start_time"].replace("Z", "+00:00")) for r in scheduled]
        assert all(t.astimezone(dt.UTC).time() == dt.time(6) for t in times), times
        assert all(t > dt.datetime.now(dt.UTC) for t in times)
        assert len({t.date() for t in times}) == len(times)  # one a day
        # the run the scheduler would make for 06:00 UTC on the day after DAYS[1]
        at = dt.datetime.combine(DAYS[2], dt.time(6), dt.UTC).isoformat()
        run = api(api_env, "POST", f"/deployments/{deployments['daily']['id']}/create_flow_run",
                  {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": at}},
                   "idempotency_key": str(uuid.uuid4())})
        done = wait_for_run(api_env, run["id"], timeout=600)
        assert done["state_type"] == "COMPLETED", (done["state"], log.read_text()[-3000:])
        assert sorted(p.name for p in (out / "LJ01D").iterdir()) == [f"{DAYS[1]:%Y_%m_%d}"]
        record = json.loads((out / "LJ01D" / f"{DAYS[1]:%Y_%m_%d}" / "whaledr-day.json").read_text())
        # serve's --publish reached the deployment: 25 of the day's 60 clips published, and only they stored
        assert deployments["daily"]["parameters"]["selection"]["publish"] == "top:20+random:5"
        assert record["complete"] and record["publish"]["budget"] == "top:20+random:5"
        assert (record["totals"]["published"], record["totals"]["clips_written"]) == (25, 25), record["totals"]
        # an expected failure, as a deployment's run: one line as the state message, no traceback
        empty = DAYS[-1] + dt.timedelta(days=5)
        run = api(api_env, "POST", f"/deployments/{deployments['day']['id']}/create_flow_run",
                  {"parameters": {"day": empty.isoformat()}, "idempotency_key": str(uuid.uuid4())})
        done = wait_for_run(api_env, run["id"], timeout=300)
        assert done["state_type"] == "FAILED"
        assert done["state"]["message"].startswith(f"no data files for LJ01D on {empty}: no day folder at ")
        said = logs_saying(api_env, run["id"], "Finished in state Failed")
        assert any("Finished in state Failed" in m for m in said), said
        assert not any("Traceback" in m for m in said), said
    finally:
        serve.terminate()
        assert serve.wait(60) == 0, log.read_text()[-3000:]
    with pytest.raises(httpx.TransportError):  # stopping serve stopped its server
        httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
    assert_no_traceback(log.read_text(), "whaledr serve's output")
    assert_no_traceback((tmp_path / "home" / "whaledr-server.log").read_text(), "the server log of whaledr serve")


def test_a_backfill_shares_its_runs_between_two_workers_each_day_once_and_a_second_renders_nothing(
        server, three_days, static_server, tmp_path):
    env, procs = server
    mirror = static_server(three_days)
    out = tmp_path / "out"
    prefect(env, "work-pool", "create", "whaledr", "--type", "process")
    deployed = prefect(env, "--no-prompt", "deploy", "--all")
    assert deployed.count("successfully created") == 3, deployed
    workers = [procs.start(f"worker-{i}", str(BIN / "prefect"), "worker", "start", "--pool", "whaledr",
                           "--limit", "2", "--name", f"worker-{i}") for i in (1, 2)]
    params = json.dumps({"start": DAYS[0].isoformat(), "end": DAYS[-1].isoformat(), "source": mirror.url,
                         "output": {"folder": str(out)}})

    def backfill() -> dict:
        said = prefect(env, "deployment", "run", "whaledr-backfill/backfill", "--params", params)
        run_id = next(line.split()[-1] for line in said.splitlines() if "UUID" in line)
        return wait_for_run(env, run_id)

    first = backfill()
    runs = day_runs(env)
    assert first["state_type"] == "COMPLETED", (first["state"], [w.read_text()[-3000:] for w in workers])
    assert sorted(r["name"] for r in runs) == [f"LJ01D {d} (backfill)" for d in DAYS]  # each day exactly once
    assert all(r["state_type"] == "COMPLETED" and r["run_count"] == 1 for r in runs)
    assert all(r["parent_task_run_id"] for r in runs)  # linked under the backfill in the UI
    # the pool's two workers shared the work: the backfill and its three days, each run by one worker, and
    # each worker ran some. Which worker takes a day is Prefect's race (a worker whose poll failed backs off
    # for up to a minute; CI once saw one worker run the backfill and the other all three days).
    took = {w.name: {r["name"] for r in [first, *runs] if ran(w.read_text(), r["id"])} for w in workers}
    assert all(took.values()), took
    assert sorted(n for names in took.values() for n in names) == sorted(r["name"] for r in [first, *runs]), took
    for day in DAYS:
        record = json.loads((out / "LJ01D" / f"{day:%Y_%m_%d}" / "whaledr-day.json").read_text())
        assert record["complete"] and record["totals"]["clips_written"] == 50  # the default budget, of 60
    (artifact,) = [a for a in api(env, "POST", "/artifacts/filter", {}) if a["key"] == "whaledr-backfill"]
    table = artifact["data"] if isinstance(artifact["data"], list) else json.loads(artifact["data"])
    assert [(row["day"], row["status"], row["published"], row["clips"], row["written"]) for row in table] == \
        [(d.isoformat(), "Completed", 50, 50, 50) for d in DAYS]
    assert all(row["skipped"] == 17280 - 50 and row["seconds"] > 0 for row in table)
    before = snapshot(out)

    second = backfill()
    assert second["state_type"] == "COMPLETED", second["state"]
    again = day_runs(env)
    assert {r["id"]: r["run_count"] for r in again} == {r["id"]: 1 for r in runs}  # no new day run, none rerun
    assert snapshot(out) == before  # nothing rendered, nothing rewritten
    for day in DAYS:  # the log says which runs were reused, and their states
        reused = f"LJ01D {day}: reusing flow run LJ01D {day} (backfill) (Completed)"
        said = logs_saying(env, second["id"], reused)
        assert any(reused in m for m in said), said
    tasks = api(env, "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [second["id"]]}}})
    assert tasks and all(t["state_type"] == "COMPLETED" for t in tasks), [(t["name"], t["state_type"]) for t in tasks]

    # the same backfill from a terminal, days still dispatched to the deployment: the same runs again
    r = subprocess.run([sys.executable, "-m", "flows.cli", "backfill", DAYS[0].isoformat(), DAYS[-1].isoformat(),
                        "--source", mirror.url, "--out", str(out), "--deployment", "whaledr-day/day"],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "3 days: 3 complete, 0 failed, 0 no data; 150 clips published" in r.stdout, \
        r.stdout + r.stderr
    assert {r["id"]: r["run_count"] for r in day_runs(env)} == {r["id"]: 1 for r in runs}
    assert snapshot(out) == before


def test_a_backfill_that_cannot_finish_a_day_fails_and_names_it_while_the_other_days_complete(three_days, tmp_path):
    """A day whose only file is unreadable fails and is named; a day without files gets no run and says so."""
    mirror = tmp_path / "mirror"
    shutil.copytree(three_days, mirror)
    bad, empty = DAYS[-1] + dt.timedelta(days=1), DAYS[-1] + dt.timedelta(days=2)
    folder = next(mirror.rglob(f"{DAYS[-1]:%Y/%m/%d}")).parent.parent.parent / f"{bad:%Y/%m/%d}"
    folder.mkdir(parents=True)
    (folder / f"OO-HYEA2--YDH-{bad:%Y-%m-%d}T00:00:00.000015Z.mseed").write_bytes(os.urandom(100_000))
    out = tmp_path / "out"
    r = run_cli("backfill", DAYS[-1].isoformat(), empty.isoformat(), "--source", str(mirror), "--out", str(out),
                env={"PREFECT_HOME": str(tmp_path / "home")})
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"3 days: 1 complete, 1 failed, 1 no data; 50 clips published. Failed: LJ01D {bad}: 1 files" in r.stderr
    assert f"LJ01D {DAYS[-1]}: 1 files, 50 clips written" in r.stdout  # `whaledr backfill`'s budget, as the UI's
    assert f"LJ01D {bad}: 1 files, 0 clips written" in r.stdout
    assert f"LJ01D {empty}: no files on the server, no day run" in r.stdout


def test_the_day_on_a_dask_cluster_gives_the_same_output_as_on_the_process_pool(server, synth_mirror, tmp_path):
    env, procs = server
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_logs = [procs.start("dask-scheduler", str(BIN / "dask"), "scheduler", "--host", "127.0.0.1",
                             "--port", str(port), "--no-dashboard")]
    dask_logs += [procs.start(f"dask-worker-{i}", str(BIN / "dask"), "worker", address, "--nworkers", "1",
                              "--nthreads", "1", "--no-dashboard", "--name", f"w{i}") for i in (1, 2)]
    from distributed import Client

    deadline = time.monotonic() + 120
    while True:
        try:
            with Client(address, timeout=5) as client:
                if len(client.scheduler_info()["workers"]) == 2:
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, [p.read_text()[-2000:] for p in dask_logs]
        time.sleep(1)

    outputs = {}
    for name, extra in (("pool", ["--workers", "2"]), ("dask", ["--dask-address", address])):
        outputs[name] = tmp_path / name
        r = subprocess.run([sys.executable, "-m", "flows.cli", "run", DAY.isoformat(), "--source", str(synth_mirror),
                            "--out", str(outputs[name]), *extra], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "179 clips written" in r.stdout
    pool, dask = snapshot(outputs["pool"]), snapshot(outputs["dask"])
    assert set(pool) == set(dask)
    clips = [k for k in pool if k.endswith((".jpg", ".wav"))]
    assert len(clips) == 2 * 179
    assert all(pool[k][1] == dask[k][1] for k in clips)  # byte for byte
    manifests = [json.loads((outputs[n] / "LJ01D" / "2019_01_12" / "whaledr-day.json").read_text()) for n in outputs]
    assert manifests[0]["clips"] == manifests[1]["clips"] and manifests[0]["skipped"] == manifests[1]["skipped"]
    worked = [log.read_text() for log in dask_logs[1:]]
    assert all("process OO-" in text for text in worked), worked  # both Dask workers processed files


def logs_saying(env: dict, run_id: str, text: str, timeout: float = 60) -> list[str]:
    """The run's log lines once one holds `text` (a finished run's last lines may still be on their way)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = api(env, "POST", "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}})
        said = [log["message"] for log in logs]
        if any(text in m for m in said) or time.monotonic() > deadline:
            return said
        time.sleep(2)


def scheduled_runs(env: dict, deployment_id: str, timeout: float) -> list[dict]:
    """The runs the scheduler made for a deployment (auto-scheduled, in state Scheduled), once there are some."""
    deadline = time.monotonic() + timeout
    while True:
        runs = api(env, "POST", "/flow_runs/filter", {
            "deployments": {"id": {"any_": [deployment_id]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}})
        runs = [r for r in runs if r["auto_scheduled"]]
        if runs:
            return runs
        assert time.monotonic() < deadline, f"the scheduler made no run of the daily deployment in {timeout} s"
        time.sleep(2)
