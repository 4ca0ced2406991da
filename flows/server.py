"""One Prefect API for a whole run: reuse the user's, or start a local one and stop it at the end.

Without PREFECT_API_URL, Prefect starts a temporary server in *every* process of a process pool
(8-10 s each on two cores). Starting one ourselves and exporting its URL before the pool starts
gives every worker the same API.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

QUIET_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here, and no need to phone home
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # two busy cores start slowly
    # how long SQLite waits for a lock (10 s by default): two workers and a backfill on two busy cores
    # held it longer, and the server failed requests with "database is locked"
    "PREFECT_SERVER_DATABASE_TIMEOUT": "60",
}


RUN_SERVER_IDLE_SERVICES = (
    "SCHEDULER", "LATE_RUNS", "FOREMAN", "CANCELLATION_CLEANUP", "PAUSE_EXPIRATIONS", "REPOSSESSOR",
    "CLEANUP_RECONCILER", "TRIGGERS",
)
"""Loops a server kept for one command's run has no use for (deployments' schedules, work pools,
automations): they would take CPU from the workers on a small machine. Events and task runs are
still recorded, so the run shows in the UI of a later `prefect server start` on the same database."""


def quiet_defaults() -> None:
    for k, v in QUIET_DEFAULTS.items():
        os.environ.setdefault(k, v)


def _configured() -> str | None:
    quiet_defaults()
    from prefect.settings import PREFECT_API_URL

    return os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()


@contextmanager
def _pointing_at(url: str) -> Iterator[str]:
    """This process, and every process it starts, talks to `url` until the block ends."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def _home() -> Path:
    """Prefect makes only the last folder of its home; a missing parent costs a 2-minute startup timeout."""
    from prefect.settings import PREFECT_HOME

    home = PREFECT_HOME.value()
    home.mkdir(parents=True, exist_ok=True)
    return home


RUN_SERVER_LOG = "whaledr-run-server.log"
"""Where the server a command starts for its run writes, in Prefect's home: not over the progress bar."""

SERVE_SERVER_LOG = "whaledr-server.log"
"""Where the server of `whaledr serve` writes, in Prefect's home."""


@contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Standard output and error of processes started in the block go to `log` (appended): Prefect
    starts its server with ours, and offers no other way."""
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    with log.open("ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


@contextmanager
def prefect_api() -> Iterator[str]:
    """Yield the API URL in use; start a local server only when none is configured."""
    configured = _configured()
    if configured:
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer

    _home()
    for service in RUN_SERVER_IDLE_SERVICES:
        os.environ.setdefault(f"PREFECT_SERVER_SERVICES_{service}_ENABLED", "false")
    server = SubprocessASGIServer()
    with _output_to(_home() / RUN_SERVER_LOG):
        server.start(timeout=int(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
    try:
        with _pointing_at(server.api_url) as url:
            yield url
    finally:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # the last log lines and events reach the server before it stops
        EventsWorker.drain_all(timeout=5)
        server.stop()


@contextmanager
def prefect_server(port: int = 4200, host: str = "127.0.0.1") -> Iterator[str]:
    """A whole `prefect server start` (UI, scheduler and every service) for as long as the block
    runs, unless PREFECT_API_URL already names a server; yields the API URL. Its output goes to
    `whaledr-server.log` in Prefect's home."""
    configured = _configured()
    if configured:
        yield configured
        return
    import subprocess
    import sys
    import time

    import httpx

    log = _home() / SERVE_SERVER_LOG
    url = f"http://{host}:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES_")}
    env["PREFECT_UI_API_URL"] = url  # else the UI asks port 4200 whatever port the server listens on
    env.setdefault("PREFECT_UI_URL", url.removesuffix("/api"))  # the link in an alert (`whaledr alerts`)
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"prefect server start exited with {server.returncode}; see {log}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not answer on {url}; see {log}")
            time.sleep(0.5)
        with _pointing_at(url):
            yield url
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
