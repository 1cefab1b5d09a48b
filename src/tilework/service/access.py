"""Who is calling: an ``Authorization: Bearer <key>`` credential turned into its API key.

A missing, malformed, unknown or revoked key is the same ``unauthorized`` error, so that an
answer never tells which of these it was. Keys are looked up by the hash of their secret and
kept in a short cache, so a request costs no database read; a revocation reaches this process
at once and every other API host within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time

import anyio.to_thread

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.keys import SECRET_SHAPE, ApiKey, secret_hash
from tilework.store.keys import ApiKeys

CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000


class Authenticator:
    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    async def authenticate(self, authorization: str | None) -> ApiKey:
        """The key an ``Authorization`` value (``Bearer <secret>``) names; raises
        ``unauthorized`` for anything else. A cache miss reads the database on a thread."""
        scheme, _, secret = (authorization or "").partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not SECRET_SHAPE.match(secret):
            raise unauthorized()
        digest = secret_hash(secret)
        hit, key = self.cached(digest)
        if not hit:
            key = await anyio.to_thread.run_sync(self.lookup, digest)
        if key is None:
            raise unauthorized()
        return key

    def cached(self, digest: str) -> tuple[bool, ApiKey | None]:
        """(found in the cache, the key) for a secret's hash; a miss needs ``lookup``."""
        with self._lock:
            entry = self._cache.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def lookup(self, digest: str) -> ApiKey | None:
        key = self.keys.authenticate(digest)
        with self._lock:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + CACHE_SECONDS, key)
        return key

    def forget(self, key_id: str) -> None:
        """Drop a revoked or changed key from this process's cache."""
        with self._lock:
            for digest, (_, key) in list(self._cache.items()):
                if key is not None and key.id == key_id:
                    del self._cache[digest]


def unauthorized() -> TileworkError:
    return TileworkError(
        ErrorCode.UNAUTHORIZED, "a valid API key is required: Authorization: Bearer <key>"
    )


READING = frozenset({"GET", "HEAD", "OPTIONS"})


def require_role(key: ApiKey, method: str) -> ApiKey:
    """``key`` if its role allows a request of ``method``; a read-only key changing anything
    is ``forbidden``."""
    if not key.may_change and method.upper() not in READING:
        raise TileworkError(
            ErrorCode.FORBIDDEN, "this key is read-only: it may read, not change anything"
        )
    return key


def require_admin(key: ApiKey) -> ApiKey:
    """``key`` if it is an admin key; raises ``forbidden`` otherwise."""
    if not key.admin:
        raise TileworkError(ErrorCode.FORBIDDEN, "this needs an admin API key")
    return key
