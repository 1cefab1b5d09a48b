"""Per-key request rate: a token bucket per API key, in each API process.

Each key may make ``rate_per_minute`` requests a minute (its own setting, else the server's),
in bursts of up to that many. The buckets live in the API process: with several API hosts
behind a balancer, each host allows the full rate, so set the limit per host.
"""

from __future__ import annotations

import math
import threading
import time

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.keys import ApiKey

MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(self, default_per_minute: int) -> None:
        self.default_per_minute = default_per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._lock = threading.Lock()

    def take_for(self, key: ApiKey) -> None:
        """Spend one request of ``key``'s allowance: its own rate, else the server's."""
        self.take(key.id, key.rate_per_minute or self.default_per_minute)

    def take(self, key_id: str, per_minute: int) -> None:
        """Spend one request of ``key_id``'s allowance, or raise 429 ``rate_limited``."""
        now = time.monotonic()
        rate = per_minute / 60.0
        with self._lock:
            tokens, at = self._buckets.get(key_id, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - at) * rate)
            if tokens < 1.0:
                self._buckets[key_id] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / rate)
                raise TileworkError(
                    ErrorCode.RATE_LIMITED,
                    f"more than {per_minute} requests a minute with this key; retry in {wait} s",
                    {"limit_per_minute": per_minute, "retry_after_seconds": wait},
                )
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()
            self._buckets[key_id] = (tokens - 1.0, now)
