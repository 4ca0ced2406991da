"""OAuth2 access tokens for the Realtime Database, minted from a service account and refreshed.

A daily run months after setup needs a credential that does not expire: a stored access token lasts
an hour, and legacy database secrets are deprecated. A service account's key signs a JWT that its
`token_uri` exchanges for an hour's token; google-auth does the signing and the exchange, and is asked
again whenever the token it holds is near its end. The scopes are the ones the Realtime Database REST
API documents for service accounts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

FIREBASE_SCOPES = (
    "https://www.googleapis.com/auth/firebase.database",
    "https://www.googleapis.com/auth/userinfo.email",
)


class ServiceAccountTokens:
    """A `TokenSource` for `appsync.Database`: one per process, safe to share between threads."""

    def __init__(self, credentials: Any) -> None:
        """`credentials`: google-auth service account credentials (scopes are set here)."""
        self._credentials = credentials.with_scopes(list(FIREBASE_SCOPES))
        self._lock = threading.Lock()
        self.minted = 0
        """Tokens minted so far: how often the token endpoint was asked."""

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> ServiceAccountTokens:
        """From a service account's JSON key, as a dict."""
        from google.oauth2 import service_account

        return cls(service_account.Credentials.from_service_account_info(dict(info)))

    def token(self) -> str:
        with self._lock:
            if not self._credentials.valid:  # none yet, or within google-auth's refresh margin of expiry
                from google.auth.transport.requests import Request

                self._credentials.refresh(Request())
                self.minted += 1
            return str(self._credentials.token)

    def __repr__(self) -> str:  # never the key or the token
        return f"ServiceAccountTokens({getattr(self._credentials, 'service_account_email', '?')})"
