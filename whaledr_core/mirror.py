"""Serve a folder over HTTP on loopback, as `python -m http.server` does, for the demo and tests."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass

    def copyfile(self, source, outputfile) -> None:
        """Bodies by sendfile: the real server is not on our cores, so this one should barely use them."""
        outputfile.flush()
        self.connection.sendfile(source)


@contextmanager
def serve(folder: str | Path) -> Iterator[str]:
    """Yield the base URL of `folder` served on 127.0.0.1 at a free port."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
