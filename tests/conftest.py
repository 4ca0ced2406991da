"""Shared set-ups: synthetic miniSEED, a synthetic OOI mirror made by our CLI, and static HTTP servers."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

WHALEDR = [sys.executable, "-m", "flows.cli"]
DAY = dt.date(2019, 1, 12)
RATE = 64_000

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def write_mseed(path: Path, start: dt.datetime, data: np.ndarray, *, station: str = "HYEA2",
                fragments: int = 0, jitter: float = 0.0, seed: int = 0) -> Path:
    """Steim2 miniSEED of `data` (int32) starting at `start`, optionally split into jittering fragments."""
    from obspy import Stream, Trace, UTCDateTime

    header = {"network": "OO", "station": station, "location": "", "channel": "YDH",
              "sampling_rate": RATE, "starttime": UTCDateTime(start)}
    if fragments:
        rng = np.random.default_rng(seed)
        cuts = np.sort(rng.choice(np.arange(1, len(data) // 512), size=fragments - 1, replace=False)) * 512
        traces, offset = [], 0
        for part in np.split(data, cuts):
            h = dict(header)
            h["starttime"] = header["starttime"] + offset / RATE + (rng.uniform(-jitter, jitter) if offset else 0)
            traces.append(Trace(data=part.astype(np.int32), header=h))
            offset += len(part)
    else:
        traces = [Trace(data=data.astype(np.int32), header=header)]
    path.parent.mkdir(parents=True, exist_ok=True)
    Stream(traces).write(str(path), format="MSEED", encoding="STEIM2", reclen=4096)
    return path


def mseed_name(start: dt.datetime, station: str = "HYEA2") -> str:
    return f"OO-{station}--YDH-{start:%Y-%m-%dT%H:%M:%S.%f}.mseed"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StaticServer:
    """`python -m http.server` on loopback, the way a user would serve a synthetic mirror."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1", "--directory", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("http.server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def static_server():
    servers: list[StaticServer] = []

    def start(folder: Path) -> StaticServer:
        servers.append(StaticServer(folder))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


TRACEBACK_MARKS = ("Traceback (most recent call last)", "was never awaited")
SQLITE_BUSY = "(sqlite3.OperationalError) database is locked"
"""SQLite refusing a write while another holds the lock. Prefect recovers: it rolls the request back and
answers 503, which its clients ask again, or closes the channel of a worker whose heartbeat it could not
save, and the worker connects again. But the server logs the traceback (CI met both while the whole
suite loaded its 2 cores)."""
SQLITE_BUSY_ALLOWED = 3
"""More than this many in one log is a server that cannot keep up, and fails the test."""
ENTRY = re.compile(r"\n(?=\d\d:\d\d:\d\d\.\d{3} \| )")
"""Where a log entry starts: Prefect's console format, `HH:MM:SS.mmm | LEVEL | logger - message`."""


def assert_no_traceback(text: str, where: str, expected: tuple[str, ...] = ()) -> None:
    """A Prefect server that logs a traceback is broken even when every request answered: its
    scheduler, for one, fails only there. `expected` names the lines a test provokes on purpose.
    A few SQLite lock refusals are the load of a shared machine, which Prefect retries.

    The log is judged entry by entry: an entry holds its traceback, blank lines (a chained exception's)
    included, and so does any text after it that is not an entry of its own."""
    bad = [e for e in ENTRY.split(text) if any(m in e for m in TRACEBACK_MARKS) and not any(x in e for x in expected)]
    busy = [e for e in bad if _lock_refusal(e)]
    if len(busy) <= SQLITE_BUSY_ALLOWED:
        bad = [e for e in bad if e not in busy]
    assert not bad, f"{where} holds a traceback:\n" + "\n\n".join(bad)[-4000:]


def _lock_refusal(entry: str) -> bool:
    """An entry that is SQLite's lock and nothing else: one exception, or one chained pair, and no
    unawaited coroutine (text without a header of its own, after it, would belong to the entry)."""
    return SQLITE_BUSY in entry and entry.count(TRACEBACK_MARKS[0]) <= 2 and TRACEBACK_MARKS[1] not in entry


class PrefectServer:
    """`prefect server start` (UI, scheduler and every service) on a free loopback port, with its
    own home and database, its output in `server.log`."""

    def __init__(self, folder: Path, extra_env: dict | None = None, port: int | None = None) -> None:
        self.home, self.log = folder / "home", folder / "server.log"
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_API_URL": self.url,
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
                    "PREFECT_SERVER_DATABASE_TIMEOUT": "60",  # as flows/server.py sets it: SQLite under load
                    **(extra_env or {})}
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
             "--port", str(self.port)], env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prefect server start did not answer:\n" + self.log.read_text()[-3000:])
            time.sleep(0.5)

    def log_size(self) -> int:
        return self.log.stat().st_size

    def assert_clean_log(self, since: int = 0, expected: tuple[str, ...] = ()) -> None:
        with self.log.open("rb") as f:
            f.seek(since)
            assert_no_traceback(f.read().decode(errors="replace"), f"the Prefect server's log {self.log}", expected)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


SESSION_PORT = free_port()


def pytest_configure(config) -> None:
    """The session server's URL is set before any test module imports Prefect: settings set later
    do not reach the process pool's workers, which then start temporary servers of their own. The
    server itself starts with the first test that asks for it; a test that talks to Prefect without
    asking fails to connect rather than quietly using a server of its own."""
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{SESSION_PORT}/api"


@pytest.fixture(scope="session")
def prefect_session_server(tmp_path_factory):
    """One Prefect server for every test that needs one, as Prefect's own `hosted_api_server`."""
    server = PrefectServer(tmp_path_factory.mktemp("prefect-server"), port=SESSION_PORT)
    yield server
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)  # this process's last log lines and events, before the server goes
    EventsWorker.drain_all(timeout=5)
    server.stop()
    server.assert_clean_log()


@pytest.fixture
def prefect_api(prefect_session_server):
    """The session's server for this test, in this process and in every command it starts; the test
    fails if the server logged a traceback meanwhile. Yields the env a `run_cli` call needs."""
    server = prefect_session_server
    since = server.log_size()
    yield {"PREFECT_API_URL": server.url}
    server.assert_clean_log(since)


def run_cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`whaledr ARGS`; against the server named in `env`'s PREFECT_API_URL, else with a server of its
    own, whose log (in `env`'s PREFECT_HOME) must then hold no traceback."""
    full_env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    full_env.update(env or {})
    r = _run(args, full_env, timeout)
    own_log = Path(full_env.get("PREFECT_HOME", "~/.prefect")).expanduser() / "whaledr-run-server.log"
    if "PREFECT_API_URL" not in full_env and own_log.exists():
        assert_no_traceback(own_log.read_text(errors="replace"), f"the log of the server `whaledr {args[0]}` started")
    return r


def _run(args, full_env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([*WHALEDR, *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=Path(__file__).parent.parent)


@pytest.fixture(scope="session")
def synth_mirror(tmp_path_factory) -> Path:
    """Three 5-minute files made by `whaledr synth`: fragmented first file, a 2.5 s gap, an addendum."""
    root = tmp_path_factory.mktemp("mirror")
    r = run_cli("synth", str(root), "--date", DAY.isoformat(), "--files", "3", "--gap-seconds", "2.5",
                "--fragmented", "--addendum")
    assert r.returncode == 0, r.stderr
    return root


@pytest.fixture
def mirror_copy(synth_mirror, tmp_path) -> Path:
    dest = tmp_path / "mirror"
    shutil.copytree(synth_mirror, dest)
    return dest


@pytest.fixture(scope="session")
def s3_url(tmp_path_factory):
    """A real S3 server (SeaweedFS, tests/seaweed.py) on loopback for the whole session."""
    from seaweed import SeaweedS3

    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def moto_url():
    """A moto S3 server on loopback, for what SeaweedFS does not do as AWS does (tests/seaweed.py): a test
    that uses it says why."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_KEY_ID, S3_SECRET = "AKIAWHALEDRTEST0001", "s3-secret-Zq8RvT1mWx0pLk"


def new_bucket(url: str, request) -> tuple:
    import boto3

    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET)
    name = "whaledr-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    client.create_bucket(Bucket=name)
    return client, name


@pytest.fixture
def bucket(s3_url, request):
    """A fresh bucket per test on the real S3 server, and a boto3 client to look at it with."""
    return new_bucket(s3_url, request)


@pytest.fixture
def moto_bucket(moto_url, request):
    """The same on moto, for a test that needs what only AWS (and moto) do; it says which."""
    return new_bucket(moto_url, request)


@pytest.fixture
def rtdb():
    from rtdb import RealtimeDatabase

    dbs: list[RealtimeDatabase] = []

    def start(**kwargs) -> RealtimeDatabase:
        dbs.append(RealtimeDatabase(**kwargs))
        return dbs[-1]

    yield start
    for db in dbs:
        db.stop()
