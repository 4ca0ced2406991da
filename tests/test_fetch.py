"""The downloader against a real HTTP server on loopback that serves ranges and misbehaves on cue."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from whaledr_core import fetch

BODY = os.urandom(300_000)
FAST = fetch.RetryPolicy(attempts=4, backoff=0.01, max_wait=0.05)


class FaultyServer:
    """Serves BODY at /f.mseed with Range support; `script` says what each request gets."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append({"path": self.path, "range": self.headers.get("Range")})
                action = owner.script.pop(0) if owner.script else "ok"
                if action in ("404", "503"):
                    self.send_response(int(action))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if action == "429":
                    self.send_response(429)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and action != "ignore-range":
                    start = int(rng.split("=")[1].split("-")[0])
                body = BODY[start:]
                if action == "short-consistent":  # cut short, under a Content-Length that agrees
                    body = body[: len(body) // 2]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(BODY) - 1}/{len(BODY)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if action.startswith("drop-after:"):
                    self.wfile.write(body[: int(action.split(":")[1])])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/f.mseed"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FaultyServer]:
    s = FaultyServer()
    yield s
    s.close()


@pytest.fixture
def client():
    with fetch.new_client(timeout=10) as c:
        yield c


def test_plain_download_then_never_again(server, client, tmp_path):
    dest = tmp_path / "f.mseed"
    assert fetch.download(server.url, dest, client, policy=FAST).read_bytes() == BODY
    fetch.download(server.url, dest, client, policy=FAST)
    assert len(server.requests) == 1


def test_the_gate_is_held_around_the_transfer_and_its_resumes_only(server, client, tmp_path):
    """The gate (the `ooi-downloads` slot in the flow) is entered once for a download that drops and
    resumes, with every request inside it, and not at all for a file already in the cache."""
    held: list[int] = []  # the requests the server had seen when the gate was entered, and left

    class Gate:
        def __enter__(self):
            held.append(len(server.requests))

        def __exit__(self, *exc):
            held.append(len(server.requests))

    dest = tmp_path / "f.mseed"
    server.script = ["drop-after:1000", "ok"]
    assert fetch.download(server.url, dest, client, policy=FAST, gate=Gate).read_bytes() == BODY
    assert held == [0, 2] and [r["range"] for r in server.requests] == [None, "bytes=1000-"]
    fetch.download(server.url, dest, client, policy=FAST, gate=Gate)
    assert held == [0, 2] and len(server.requests) == 2
    assert not (tmp_path / "f.mseed.part").exists()


def test_resume_from_a_partial_file(server, client, tmp_path):
    dest = tmp_path / "f.mseed"
    (tmp_path / "f.mseed.part").write_bytes(BODY[:123_456])
    fetch.download(server.url, dest, client, policy=FAST)
    assert dest.read_bytes() == BODY
    assert server.requests[0]["range"] == "bytes=123456-"


def test_retry_after_a_dropped_connection_resumes_where_it_stopped(server, client, tmp_path):
    server.script = ["drop-after:100000"]
    dest = fetch.download(server.url, tmp_path / "f.mseed", client, policy=FAST)
    assert dest.read_bytes() == BODY
    assert len(server.requests) == 2
    assert server.requests[1]["range"] == "bytes=100000-"


def test_server_errors_and_throttling_are_retried(server, client, tmp_path):
    server.script = ["503", "429", "drop-after:10"]
    dest = fetch.download(server.url, tmp_path / "f.mseed", client, policy=FAST)
    assert dest.read_bytes() == BODY and len(server.requests) == 4


def test_a_server_that_ignores_range_restarts_cleanly(server, client, tmp_path):
    (tmp_path / "f.mseed.part").write_bytes(b"garbage that is not the start of the file")
    server.script = ["ignore-range"]
    assert fetch.download(server.url, tmp_path / "f.mseed", client, policy=FAST).read_bytes() == BODY


def test_size_mismatch_is_refused_and_leaves_no_file(server, client, tmp_path):
    dest = tmp_path / "f.mseed"
    with pytest.raises(fetch.PermanentFetchError, match="listing said"):
        fetch.download(server.url, dest, client, expected_size=len(BODY) + 1, policy=FAST)
    assert not dest.exists() and not (tmp_path / "f.mseed.part").exists()
    assert len(server.requests) == 1  # not retried: it cannot mend


def test_not_found_is_permanent(server, client, tmp_path):
    server.script = ["404"]
    with pytest.raises(fetch.PermanentFetchError, match="404"):
        fetch.download(server.url, tmp_path / "f.mseed", client, policy=FAST)
    assert len(server.requests) == 1


def test_giving_up_keeps_the_partial_file_for_the_next_run(server, client, tmp_path):
    server.script = ["drop-after:1000"] * 4
    with pytest.raises(fetch.FetchError, match="gave up after 4 attempts"):
        fetch.download(server.url, tmp_path / "f.mseed", client, policy=FAST)
    assert (tmp_path / "f.mseed.part").stat().st_size == 4000
    assert not (tmp_path / "f.mseed").exists()
    assert fetch.download(server.url, tmp_path / "f.mseed", client, policy=FAST).read_bytes() == BODY
    assert server.requests[-1]["range"] == "bytes=4000-"


def test_a_body_cut_short_under_an_agreeing_length_is_caught_by_the_listings_rounded_size(server, client, tmp_path):
    from whaledr_core.listing import parse_index

    name = "OO-HYEA2--YDH-2019-01-12T00:05:00.000000.mseed"
    page = f'<a href="./{name}">{name}</a> 2019-01-12 00:05  {len(BODY) / 1024:.0f}K'  # Apache's "293K"
    (listed,), _ = parse_index(page, server.url.rsplit("/", 1)[0] + "/")
    assert listed.exact_size is None and listed.size_bounds[0] < len(BODY) < listed.size_bounds[1]
    server.script = ["short-consistent"]
    dest = fetch.download(listed.url, tmp_path / "f.mseed", client, size_bounds=listed.size_bounds, policy=FAST)
    assert dest.read_bytes() == BODY and len(server.requests) == 2
    server.script = ["short-consistent"] * 4
    with pytest.raises(fetch.FetchError, match="the listing said"):
        fetch.download(listed.url, tmp_path / "g.mseed", client, size_bounds=listed.size_bounds, policy=FAST)
    assert not (tmp_path / "g.mseed").exists()  # never kept as the whole file


def test_cache_path_mirrors_the_server_path(tmp_path):
    p = fetch.cache_path(tmp_path, "https://rawdata.oceanobservatories.org/files/A/B/f%3A1.mseed")
    assert p == tmp_path / "rawdata.oceanobservatories.org" / "files" / "A" / "B" / "f:1.mseed"
