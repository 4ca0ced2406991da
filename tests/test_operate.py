"""Running for years, on real parts over loopback: `whaledr serve` on a real PostgreSQL (the Debian
package postgresql-15), an alert that reaches a webhook when a day fails, a backfill through the
deployments that records the data calendar, starts no run for a day without files and never has more
OOI downloads in flight than the `ooi-downloads` limit allows, and that limit changed while in use."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from conftest import assert_no_traceback, free_port, run_cli
from ooi_faults import FaultyOOI

pytestmark = pytest.mark.slow  # servers, pools or whole days: `pytest -m 'not slow'` skips them

ROOT = Path(__file__).parent.parent
D0 = dt.date(2019, 1, 12)
FILES = {D0: 3, D0 + dt.timedelta(days=1): 3, D0 + dt.timedelta(days=3): 2}  # the day between has no folder
BACKFILL = [D0 + dt.timedelta(days=i) for i in range(4)]
EMPTY_DAY = D0 + dt.timedelta(days=9)
PG_BIN = Path("/usr/lib/postgresql/15/bin")  # Debian's postgresql-15 (.ci/run installs it where missing)


class Postgres:
    """A PostgreSQL cluster of its own in a temporary folder, on a free loopback port, trusting local
    connections. As root, its programs run as the `postgres` user (the server refuses root), the way
    DESIGN.md ("Real parts available here") describes. fsync is off: a test's database need not survive
    a power cut."""

    def __init__(self) -> None:
        bin_dir = PG_BIN if (PG_BIN / "initdb").exists() else None
        if bin_dir is None and shutil.which("initdb"):
            bin_dir = Path(shutil.which("initdb") or "").parent
        if bin_dir is None:
            pytest.fail("PostgreSQL is not installed: apt-get install postgresql-15 (.ci/run does)")
        self.bin = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="whaledr-pg-"))  # not under pytest's root-only folder
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self._run("initdb", "-D", str(self.folder / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "postgres.log"), "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "prefect")
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/prefect"

    def _run(self, program: str, *args: str) -> str:
        r = subprocess.run([*self.as_owner, str(self.bin / program), *args], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, f"{program}: {r.stdout}{r.stderr}"
        return r.stdout

    def sql(self, query: str) -> str:
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "prefect",
                         "-At", "-c", query).strip()

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


class Webhook:
    """A loopback receiver for the alert: keeps each POST's JSON body and when it came."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        """(when, as a Unix time; the JSON body) of each POST."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.received.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/whaledr-token-Qz81"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def ooi(tmp_path_factory):
    """The days of FILES as `whaledr synth` lays them out, served by an OOI-style server that counts the
    file downloads it serves at once and paces each body (about 1 s) so that downloads overlap."""
    root = tmp_path_factory.mktemp("ooi-mirror")
    for day, files in FILES.items():
        r = run_cli("synth", str(root), "--date", day.isoformat(), "--files", str(files), "--seed", str(day.day),
                    "--era", "2019")
        assert r.returncode == 0, r.stderr
    server = FaultyOOI(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def served(ooi, tmp_path_factory):
    """`whaledr serve` with Prefect's server on PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL), its
    output to a folder and the OOI-style server as its source."""
    postgres = Postgres()
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(folder / "home"), PREFECT_API_DATABASE_CONNECTION_URL=postgres.url,
               PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = folder / "serve.log"
    serve = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--out",
                              str(folder / "out"), "--source", ooi.url], env=env, cwd=ROOT, stdout=log.open("wb"),
                             stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    try:
        while "being served" not in log.read_text():
            assert serve.poll() is None and time.monotonic() - started < 300, log.read_text()[-3000:]
            time.sleep(1)
        print(f"whaledr serve on PostgreSQL answered in {time.monotonic() - started:.0f} s")
        yield {"PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}, folder, log, postgres
    finally:
        serve.terminate()
        code = serve.wait(60)
        postgres.stop()
    assert code == 0, log.read_text()[-3000:]
    assert_no_traceback(log.read_text(), "whaledr serve's output")
    assert_no_traceback((folder / "home" / "whaledr-server.log").read_text(), "the server log of whaledr serve")


def api(env: dict, method: str, path: str, body: dict | None = None):
    r = httpx.request(method, env["PREFECT_API_URL"] + path, json=body, timeout=30)
    r.raise_for_status()
    return r.json() if r.content else None


def deployment_id(env: dict, name: str) -> str:
    return next(d["id"] for d in api(env, "POST", "/deployments/filter", {}) if d["name"] == name)


def start_run(env: dict, deployment: str, parameters: dict) -> str:
    run = api(env, "POST", f"/deployments/{deployment_id(env, deployment)}/create_flow_run",
              {"parameters": parameters, "idempotency_key": str(uuid.uuid4())})
    return run["id"]


def wait_for_run(env: dict, run_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api(env, "GET", f"/flow_runs/{run_id}")
        if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(2)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout} s")


def test_serve_on_postgresql_creates_the_download_limit_and_a_failed_day_alerts_a_webhook(served):
    """The alert names the run (hydrophone and day), its state and reason, and links to it in the UI;
    set up twice it is still one automation, the webhook's URL is never shown, and --remove takes it away."""
    env, folder, log, postgres = served
    assert "OOI downloads: at most 8 at once over every run (ooi-downloads, created" in log.read_text()
    hook = Webhook()
    try:
        for said in ("set up", "replaced"):
            r = run_cli("alerts", "--webhook-url", hook.url, env=env, timeout=120)
            assert r.returncode == 0 and r.stdout.startswith(f"{said}: when a run of whaledr-day, whaledr-daily, "
                                                             "whaledr-backfill ends Failed, Crashed or TimedOut"), \
                r.stdout + r.stderr
        automations = api(env, "POST", "/automations/filter", {})
        assert [a["name"] for a in automations] == ["whaledr: a run failed"]
        listed = run_cli("alerts", "--list", env=env, timeout=120)
        assert "notify through Custom Webhook block 'whaledr-alerts-webhook'" in listed.stdout, listed.stdout
        run_id = start_run(env, "day", {"day": EMPTY_DAY.isoformat()})
        run = wait_for_run(env, run_id, timeout=300)
        assert run["state_type"] == "FAILED"
        ended = dt.datetime.fromisoformat(run["end_time"]).timestamp()
        while not hook.received and time.time() - ended < 90:
            time.sleep(1)
        assert hook.received, "no alert reached the webhook within 90 s of the run's end"
        came, alert = hook.received[0]
        print(f"alert received {came - ended:.1f} s after the run ended:\n{alert['text']}")
        assert alert["subject"] == f"whaledr: LJ01D {EMPTY_DAY} Failed"
        assert f'whaledr-day run "LJ01D {EMPTY_DAY}" ended Failed' in alert["body"]
        assert f"Reason: no data files for LJ01D on {EMPTY_DAY}: no day folder at " in alert["body"]
        ui = env["PREFECT_API_URL"].removesuffix("/api")
        assert f"Run: {ui}/runs/flow-run/{run_id}" in alert["body"]
        assert alert["text"] == f"{alert['subject']}\n{alert['body']}"
        # the URL (which may hold a token) is among the block's secrets: not in the API's answers nor any output
        blocks = json.dumps(api(env, "POST", "/block_documents/filter", {}))
        assert hook.url not in blocks and "whaledr-token" not in blocks
        assert all(hook.url not in text for text in (listed.stdout, log.read_text()))
        removed = run_cli("alerts", "--remove", env=env, timeout=120)
        assert "removed 1 alert automation(s) and the webhook block 'whaledr-alerts-webhook'" in removed.stdout
        assert api(env, "POST", "/automations/filter", {}) == []
        assert "no whaledr alert" in run_cli("alerts", "--list", env=env, timeout=120).stdout
    finally:
        hook.stop()


def test_a_backfill_records_the_calendar_skips_a_day_without_files_and_keeps_to_two_downloads(served, ooi):
    """With `whaledr download-limit --slots 2`, three day runs (two at once) that each fetch three files
    at once never have more than two downloads in flight at the OOI server, every file is fetched once,
    and the runs are in PostgreSQL."""
    env, folder, log, postgres = served
    r = run_cli("download-limit", "--slots", "2", env=env, timeout=120)
    assert r.stdout.startswith("ooi-downloads: 2 downloads at once"), r.stdout + r.stderr
    ooi.pace, ooi.max_in_flight, ooi.downloads = 1.0, 0, 0
    started = time.monotonic()
    run_id = start_run(env, "backfill", {"start": BACKFILL[0].isoformat(), "end": BACKFILL[-1].isoformat(),
                                         "concurrency": 2})
    run = wait_for_run(env, run_id)
    print(f"backfill of {len(BACKFILL)} days through the deployments on PostgreSQL: "
          f"{time.monotonic() - started:.0f} s; at most {ooi.max_in_flight} downloads in flight")
    assert run["state_type"] == "COMPLETED", run["state"]
    assert (ooi.max_in_flight, ooi.downloads) == (2, sum(FILES.values()))
    flows = {f["id"]: f["name"] for f in api(env, "POST", "/flows/filter", {})}
    runs = api(env, "POST", "/flow_runs/filter", {})
    day_runs = [r for r in runs if flows[r["flow_id"]] == "whaledr-day" and r["name"] != f"LJ01D {EMPTY_DAY}"]
    assert sorted(r["name"] for r in day_runs) == [f"LJ01D {d} (backfill)" for d in FILES]  # none without files
    artifacts = {a["key"]: a for a in api(env, "POST", "/artifacts/filter", {}) if a["flow_run_id"] == run_id}
    table = artifacts["whaledr-backfill"]["data"]
    table = table if isinstance(table, list) else json.loads(table)
    assert [(row["day"], row["status"]) for row in table] == [
        (d.isoformat(), "Completed" if d in FILES else "no data") for d in BACKFILL]
    calendar = artifacts["whaledr-calendar"]["data"]
    assert "LJ01D: 3 of 4 days hold files (0 whole, 3 partial, 1 without); 8 files" in calendar
    assert f"Days without files (no day run): {BACKFILL[2]}" in calendar
    assert "](data:image/png;base64,iVBORw0KGgo" in calendar  # the picture itself, inline
    for day, files in FILES.items():
        record = json.loads((folder / "out" / "LJ01D" / f"{day:%Y_%m_%d}" / "whaledr-day.json").read_text())
        assert record["complete"] and record["totals"]["files_listed"] == files
    # the server's database is PostgreSQL: every run the API knows is there
    assert sorted(postgres.sql("SELECT name FROM flow_run").splitlines()) == sorted(r["name"] for r in runs)


def test_the_download_limit_is_created_once_and_a_new_number_applies_to_downloads_waiting(prefect_api):
    """Two downloads under a limit of one: the second waits; raising the limit to two (as the UI's
    Concurrency page does) lets it in without a restart. A plain `whaledr download-limit` keeps the number."""
    from prefect.client.orchestration import get_client

    from flows.limits import download_slot

    log = logging.getLogger("whaledr-test")
    try:
        assert run_cli("download-limit", env=prefect_api).stdout.startswith("ooi-downloads: 8 downloads at once")
        assert run_cli("download-limit", "--slots", "1", env=prefect_api).stdout.startswith(
            "ooi-downloads: 1 downloads at once, 0 in flight now (on ")
        first_in, release, second_in = threading.Event(), threading.Event(), threading.Event()

        def first() -> None:
            with download_slot(log):
                first_in.set()
                release.wait(120)

        def second() -> None:
            first_in.wait(60)
            with download_slot(log):
                second_in.set()

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        assert first_in.wait(60)
        assert not second_in.wait(8), "a second download took a slot of a limit of one"
        r = run_cli("download-limit", "--slots", "2", env=prefect_api)
        assert r.stdout.startswith("ooi-downloads: 2 downloads at once, 1 in flight now"), r.stdout + r.stderr
        assert second_in.wait(60), "raising the limit did not let the waiting download in"
        release.set()
        for t in threads:
            t.join(60)
        assert run_cli("download-limit", env=prefect_api).stdout.startswith(
            "ooi-downloads: 2 downloads at once, 0 in flight now")
    finally:
        release.set()
        with get_client(sync_client=True) as client:  # the session's other tests run without the limit
            client.delete_global_concurrency_limit_by_name("ooi-downloads")


def test_alerts_refuse_a_block_that_is_missing_or_cannot_notify_and_leave_the_operators_block(prefect_api):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.blocks.system import Secret

    Secret(value="not-a-notifier").save("whaledr-test-secret", overwrite=True)
    CustomWebhookNotificationBlock(name="ops", url="http://127.0.0.1:9/ops").save("ops-hook", overwrite=True)
    try:
        r = run_cli("alerts", env=prefect_api)
        assert r.returncode == 2 and "give one of --block NAME, --webhook-url URL" in r.stderr
        r = run_cli("alerts", "--block", "nope", env=prefect_api)
        assert r.returncode == 2 and "no notification block named 'nope' on this Prefect server" in r.stderr
        r = run_cli("alerts", "--block", "whaledr-test-secret", env=prefect_api)
        assert r.returncode == 2 and "block 'whaledr-test-secret' cannot send notifications (a Secret block)" \
            in r.stderr, r.stderr
        r = run_cli("alerts", "--block", "ops-hook", env=prefect_api)
        assert r.returncode == 0 and "notify through Custom Webhook block 'ops-hook'" in r.stdout, r.stderr
        r = run_cli("alerts", "--block", "ops-hook", env={**prefect_api, "WHALEDR_WEBHOOK_URL": "http://x.example"})
        assert r.returncode == 2 and "--block and a webhook URL (--webhook-url or WHALEDR_WEBHOOK_URL)" in r.stderr
        r = run_cli("alerts", "--remove", env={**prefect_api, "WHALEDR_WEBHOOK_URL": "http://x.example"})
        assert r.stdout.startswith("removed 1 alert automation(s) from"), r.stdout + r.stderr
        assert CustomWebhookNotificationBlock.load("ops-hook").url == "http://127.0.0.1:9/ops"  # the operator's
    finally:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            for automation in client.read_automations_by_name("whaledr: a run failed"):
                client.delete_automation(automation.id)
