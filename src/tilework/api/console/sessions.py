"""Console sessions: sign in with an API key once, then a signed, expiring cookie (HttpOnly,
SameSite=Strict) names the key; every POST carries a CSRF token bound to the session.

The cookie holds the key's id, an expiry and a random nonce, signed with HMAC-SHA256 under a
secret every API host shares (``store.secrets``); the key is looked up again on each request,
so a revoked key's sessions end at once. The CSRF token is an HMAC of the nonce: a page of
this session has it, another site cannot read it, and it changes with every sign-in. Before
sign-in, a pre-session cookie's nonce binds the sign-in form's token the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from tilework.store.database import Database
from tilework.store.secrets import shared_secret

COOKIE = "tw_console"
PRE_COOKIE = "tw_console_pre"
SESSION_SECONDS = 8 * 3600
PRE_SECONDS = 3600
SECRET_NAME = "console_session_key"


@dataclass(frozen=True)
class Session:
    key_id: str
    expires_at: float
    nonce: str


class Signer:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._secret: bytes | None = None

    @property
    def secret(self) -> bytes:
        if self._secret is None:  # read at first use: the API may start before it is made
            made = shared_secret(self._database, SECRET_NAME, lambda: secrets.token_urlsafe(32))
            self._secret = made.encode()
        return self._secret

    def _mac(self, purpose: str, text: str) -> str:
        digest = hmac.new(self.secret, f"{purpose}:{text}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def session_cookie(self, key_id: str, now: float | None = None) -> tuple[str, Session]:
        now = time.time() if now is None else now
        session = Session(key_id, now + SESSION_SECONDS, secrets.token_urlsafe(16))
        body = json.dumps({"k": key_id, "e": session.expires_at, "n": session.nonce})
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{payload}.{self._mac('session', payload)}", session

    def session(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie names, if it is signed here and not expired."""
        if not cookie or "." not in cookie:
            return None
        payload, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(str(body["k"]), float(body["e"]), str(body["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires_at < (time.time() if now is None else now):
            return None
        return session

    def csrf_token(self, nonce: str) -> str:
        return self._mac("csrf", nonce)

    def csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.csrf_token(nonce))


def new_nonce() -> str:
    return secrets.token_urlsafe(16)
