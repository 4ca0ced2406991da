"""Shared set-ups: synthetic miniSEED, a synthetic OOI mirror made by our CLI, and static HTTP servers."""

from __future__ import annotations

import datetime as dt
import os
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


def run_cli(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PREFECT_API_URL", None)
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
def moto_url():
    """A moto S3 server on loopback, spoken to over HTTP like any S3-compatible store."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


S3_KEY_ID, S3_SECRET = "AKIAWHALEDRTEST0001", "s3-secret-Zq8RvT1mWx0pLk"


@pytest.fixture
def bucket(moto_url, request):
    """A fresh bucket per test, and a boto3 client to look at it with."""
    import boto3

    client = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                          aws_access_key_id=S3_KEY_ID, aws_secret_access_key=S3_SECRET)
    name = "whaledr-" + "".join(c for c in request.node.name.lower() if c.isalnum())[:40]
    client.create_bucket(Bucket=name)
    return client, name


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
