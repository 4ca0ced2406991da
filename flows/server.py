"""One Prefect API for a whole run: reuse the user's, or start a local one and stop it at the end.

Without PREFECT_API_URL, Prefect starts a temporary server in *every* process of a process pool
(8-10 s each on two cores). Starting one ourselves and exporting its URL before the pool starts
gives every worker the same API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here, and no need to phone home
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # two busy cores start slowly
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


@contextmanager
def prefect_api() -> Iterator[str]:
    """Yield the API URL in use; start a local server only when none is configured."""
    quiet_defaults()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_HOME

    # Prefect makes only the last folder of its home; a missing parent costs a 2-minute startup timeout
    PREFECT_HOME.value().mkdir(parents=True, exist_ok=True)
    for service in RUN_SERVER_IDLE_SERVICES:
        os.environ.setdefault(f"PREFECT_SERVER_SERVICES_{service}_ENABLED", "false")
    server = SubprocessASGIServer()
    server.start(timeout=int(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)  # the last log lines and events reach the server before it stops
        EventsWorker.drain_all(timeout=5)
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


@contextmanager
def prefect_server(port: int = 4200, host: str = "127.0.0.1", log: str | None = None) -> Iterator[str]:
    """A whole `prefect server start` (UI, scheduler and every service) for as long as the block
    runs, unless PREFECT_API_URL already names a server; yields the API URL."""
    quiet_defaults()
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    configured = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    import subprocess
    import sys
    import time

    import httpx

    PREFECT_HOME.value().mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_SERVICES_")}
    out = open(log, "ab") if log else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"prefect server start exited with {server.returncode}" + (f"; see {log}" if log else ""))
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not answer on {url}")
            time.sleep(0.5)
        os.environ["PREFECT_API_URL"] = url
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None) if os.environ.get("PREFECT_API_URL") == url else None
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
