"""A proxy in front of an S3 server (SeaweedFS in the tests) that answers some requests with S3's
throttling and 5xx errors, and cuts the connection of others: before the request reaches S3, or after S3
stored it and before the answer gets back (the case where a retry repeats a PUT that had in fact landed)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")


DENIED = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>'
          b"<Message>The request signature we calculated does not match the signature you provided.</Message></Error>")


class FaultyS3Proxy:
    def __init__(self, upstream: str, fail_every: int = 3, cut_every: int = 0, deny: bool = False) -> None:
        """`deny`: every request is refused as S3 refuses a wrong secret key (403 SignatureDoesNotMatch)."""
        self.upstream, self.fail_every, self.cut_every, self.deny = upstream, fail_every, cut_every, deny
        self.seen = self.failed = self.cut = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                if proxy.deny:
                    self.send_response(403)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(DENIED)))
                    self.end_headers()
                    self.wfile.write(DENIED)
                    return
                with proxy.lock:
                    proxy.seen += 1
                    fail = self.command == "PUT" and proxy.seen % proxy.fail_every == 0
                    cut = (not fail and self.command == "PUT" and proxy.cut_every
                           and proxy.seen % proxy.cut_every == 0)
                    proxy.failed += fail
                    proxy.cut += bool(cut)
                    cut_after = cut and proxy.cut % 2 == 0
                if cut and not cut_after:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fail:
                    code = 503 if proxy.failed % 2 else 500
                    self.send_response(code)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(SLOW_DOWN)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                r = httpx.request(self.command, proxy.upstream + self.path, headers=headers, content=body)
                if cut and cut_after:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
