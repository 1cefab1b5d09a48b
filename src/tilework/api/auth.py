"""Who is calling: ``Authorization: Bearer <key>`` on every /v1 route.

A missing, malformed, unknown or revoked key gets the same 401, so that an answer never tells
which of these it was. Keys are looked up by the hash of their secret and kept in a short
cache, so a request costs no database read; a revocation reaches this process at once and
every other API host within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from tilework.api.state import ApiState
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


async def caller(request: Request) -> ApiKey:
    """The calling key; raises 401 for anything else."""
    # The state straight from the app, not as a sub-dependency: this runs on every request.
    state: ApiState = request.app.state.tilework
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not SECRET_SHAPE.match(secret):
        raise unauthorized()
    digest = secret_hash(secret)
    hit, key = state.authenticator.cached(digest)
    if not hit:
        key = await run_in_threadpool(state.authenticator.lookup, digest)
    if key is None:
        raise unauthorized()
    state.rate_limiter.take(key.id, key.rate_per_minute or state.settings.rate_limit_per_minute)
    return key


async def admin(key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
    if not key.admin:
        raise TileworkError(ErrorCode.FORBIDDEN, "this needs an admin API key")
    return key


Caller = Annotated[ApiKey, Depends(caller)]
Admin = Annotated[ApiKey, Depends(admin)]
