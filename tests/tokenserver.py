"""A Google OAuth2 token endpoint on loopback, for service accounts, with a key made in the test.

It does what Google's `token_uri` does for a service account's JWT-bearer grant (RFC 7523, as
google-auth's `service_account.Credentials.refresh` speaks it): it takes the form field `assertion`,
verifies the JWT's RS256 signature against the account's public key, its issuer, audience (Google's
token endpoint), scopes and times, and answers `{"access_token", "expires_in", "token_type"}`. Tokens it
minted stay valid for `expires_in` seconds; `valid(token)` is what the database stand-in asks.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

AUDIENCE = "https://oauth2.googleapis.com/token"
"""google-auth signs a service account's grant for Google's token endpoint whatever `token_uri` says."""


class TokenEndpoint:
    def __init__(self, expires_in: int = 3600, email: str = "whaledr-sync@megaptera-13ae9.iam.gserviceaccount.com"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
        self.public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.email, self.expires_in = email, expires_in
        self.issued: dict[str, float] = {}
        self.grants: list[dict] = []
        """The verified claims of every JWT it accepted."""
        self.refused: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                try:
                    claims = endpoint.verify(form)
                except ValueError as e:
                    endpoint.refused.append(str(e))
                    return self._send(400, {"error": "invalid_grant", "error_description": "Invalid JWT"})
                token = "ya29.test-" + secrets.token_urlsafe(24)
                with endpoint.lock:
                    endpoint.issued[token] = time.time() + endpoint.expires_in
                    endpoint.grants.append(claims)
                self._send(200, {"access_token": token, "expires_in": endpoint.expires_in, "token_type": "Bearer"})

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def service_account_info(self) -> dict[str, str]:
        """A service account's JSON key as Google issues it, pointing at this endpoint."""
        return {
            "type": "service_account", "project_id": "megaptera-13ae9", "private_key_id": "test-key-1",
            "private_key": self.private_pem, "client_email": self.email, "client_id": "1234567890",
            "token_uri": self.url,
        }

    def verify(self, form: dict[str, list[str]]) -> dict:
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            raise ValueError(f"grant_type {form.get('grant_type')}")
        claims = jwt.decode(form["assertion"][0], certs=self.public_pem, audience=AUDIENCE)  # signature, exp, aud
        if claims.get("iss") != self.email:
            raise ValueError(f"issuer {claims.get('iss')}")
        return claims

    def valid(self, token: str) -> bool:
        with self.lock:
            return self.issued.get(token, 0) > time.time()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
