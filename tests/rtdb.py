"""A stand-in for the Firebase Realtime Database REST protocol, on loopback.

The emulator cannot be installed offline, so this speaks the part of the protocol the pipeline uses,
as documented for the REST API: GET (with `shallow=true`), PUT, PATCH and DELETE on `/{path}.json`,
with the credential in the `auth=` or `access_token=` query parameter and 401 when it is wrong.
Paths are JSON trees; writing null deletes, as in the real service. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class RealtimeDatabase:
    def __init__(self, secret: str | None = None, token: str | None = None, data: dict | None = None,
                 accepts: Callable[[str], bool] | None = None) -> None:
        """`accepts`: which access tokens are valid now (e.g. those a token endpoint minted and that
        have not expired), for a database that is given no fixed `token`."""
        self.secret, self.token, self.accepts = secret, token, accepts
        self.data: dict[str, Any] = data or {}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()
        db = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                db.requests.append((method, url.path, query))
                if not url.path.endswith(".json"):
                    return self._send(400, {"error": "path must end in .json"})
                if not db.authorised(query):
                    return self._send(401, {"error": "Permission denied"})
                parts = [p for p in url.path[: -len(".json")].split("/") if p]
                body = None
                if method in ("PUT", "PATCH"):
                    length = int(self.headers.get("Content-Length", 0))
                    body = json.loads(self.rfile.read(length) or b"null")
                with db.lock:
                    if method == "GET":
                        value = db.get(parts)
                        if query.get("shallow") == ["true"] and isinstance(value, dict):
                            value = {k: True for k in value}
                        return self._send(200, value)
                    if method == "PUT":
                        db.set(parts, body)
                        return self._send(200, body)
                    if method == "PATCH":
                        if not isinstance(body, dict):
                            return self._send(400, {"error": "PATCH needs an object"})
                        for k, v in body.items():
                            db.set(parts + [p for p in k.split("/") if p], v)
                        return self._send(200, body)
                    if method == "DELETE":
                        db.set(parts, None)
                        return self._send(200, None)
                return self._send(405, {"error": "method"})

            def _send(self, code: int, value: Any) -> None:
                data = json.dumps(value).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._handle("GET")

            def do_PUT(self):
                self._handle("PUT")

            def do_PATCH(self):
                self._handle("PATCH")

            def do_DELETE(self):
                self._handle("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def authorised(self, query: dict[str, list[str]]) -> bool:
        if self.secret is None and self.token is None and self.accepts is None:
            return True
        token = query.get("access_token", [None])[0]
        return (self.secret is not None and query.get("auth") == [self.secret]) or (
            self.token is not None and token == self.token
        ) or (self.accepts is not None and token is not None and self.accepts(token))

    def get(self, parts: list[str]) -> Any:
        node: Any = self.data
        for p in parts:
            if not isinstance(node, dict) or p not in node:
                return None
            node = node[p]
        return node

    def set(self, parts: list[str], value: Any) -> None:
        if not parts:
            self.data = value if isinstance(value, dict) else {}
            return
        node = self.data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m != "GET"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
