"""An OOI-style server on loopback that misbehaves on cue: the mirror's index pages, file bodies that
drop, stall, come short, or answer 500/503/429/404, and listings that change.

`faults[name]` is a list of actions served to the next requests for that file name, one per request;
`missing` names files that answer 404 (while listed) until removed; `hidden` names files that the
first `hidden_listings` day-folder listings leave out (files that arrive late). `pace` makes every file
body take about that many seconds, and `max_in_flight` counts the most file downloads it served at once
(what a bound on downloads is judged by).
"""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class FaultyOOI:
    def __init__(self, folder: Path) -> None:
        self.faults: dict[str, list[str]] = {}
        self.missing: set[str] = set()
        self.hidden: set[str] = set()
        self.hidden_listings = 0
        self.served: list[tuple[str, str]] = []  # (file name, fault) for every fault served
        self.pace = 0.0
        self.in_flight = self.max_in_flight = self.downloads = 0
        self.lock = threading.Lock()
        handler = functools.partial(_Handler, owner=self, directory=str(folder))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_action(self, name: str) -> str | None:
        with self.lock:
            if name in self.missing:
                self.served.append((name, "404"))
                return "404"
            queue = self.faults.get(name)
            if queue:
                action = queue.pop(0)
                self.served.append((name, action))
                return action
        return None

    def listing_hides(self) -> set[str]:
        with self.lock:
            if self.hidden_listings > 0:
                self.hidden_listings -= 1
                self.served.append(("listing", "changed"))
                return set(self.hidden)
        return set()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, owner: FaultyOOI, **kwargs) -> None:
        self.owner = owner
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass

    def _listing_without(self, hide: set[str]) -> None:
        """The folder's index page (written by `whaledr synth` as the OOI server's) minus `hide`."""
        page = Path(self.translate_path(self.path)) / "index.html"
        body = "\n".join(line for line in page.read_text().splitlines() if not any(h in line for h in hide)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        folder = Path(self.translate_path(self.path))
        if self.path.endswith("/") and folder.is_dir() and any(p.suffix == ".mseed" for p in folder.iterdir()):
            hide = self.owner.listing_hides()
            if hide:
                return self._listing_without(hide)
        name = self.path.rsplit("/", 1)[-1]
        if not name.endswith(".mseed"):
            return super().do_GET()
        with self.owner.lock:
            self.owner.in_flight += 1
            self.owner.downloads += 1
            self.owner.max_in_flight = max(self.owner.max_in_flight, self.owner.in_flight)
        try:
            self._file(name)
        finally:
            with self.owner.lock:
                self.owner.in_flight -= 1

    def _file(self, name: str) -> None:
        action = self.owner.next_action(name)
        if action is None and self.owner.pace:
            action = "paced"
        if action is None:
            return super().do_GET()
        if action in ("404", "500", "503", "429"):
            self.send_response(int(action))
            if action == "429":
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = Path(self.translate_path(self.path)).read_bytes()
        half = len(body) // 2
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(half if action == "short-right" else len(body)))
        self.end_headers()
        if action == "slow":  # about 4 MB/s, in small pieces
            for i in range(0, len(body), 64 * 1024):
                self.wfile.write(body[i:i + 64 * 1024])
                time.sleep(0.015)
            return
        if action == "paced":  # the whole body in about `pace` seconds
            pieces = 20
            step = -(-len(body) // pieces)
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                time.sleep(self.owner.pace / pieces)
            return
        self.wfile.write(body[:half])
        self.wfile.flush()
        if action in ("drop", "short-wrong"):  # the body ends early: cut, or closed as if complete
            self.close_connection = True
            if action == "drop":
                self.connection.shutdown(2)
