"""The queue's limits and retry schedule, as configured."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

OPEN_JOBS_RETRY_SECONDS = 5  # a key at its limit of open jobs: when to try again


@dataclass(frozen=True)
class QueuePolicy:
    max_attempts: int = 3
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    max_queued: int = 10_000
    # Fair share and concurrency limits (``queue.sql.scheduling``): by tenant and operation.
    fair_share: bool = True
    tenant_weights: dict[str, float] = field(default_factory=dict)
    tenant_limits: dict[str, int] = field(default_factory=dict)
    operation_limits: dict[str, int] = field(default_factory=dict)
    operation_limits_per_host: dict[str, int] = field(default_factory=dict)

    def weight(self, tenant: str) -> float:
        return self.tenant_weights.get(tenant, 1.0)

    @property
    def limited_operations(self) -> set[str]:
        return set(self.operation_limits) | set(self.operation_limits_per_host)

    @property
    def limited(self) -> bool:
        return bool(self.tenant_limits or self.limited_operations)

    def retry_delay(self, attempts: int) -> float:
        """Capped exponential backoff with jitter, so retries of a burst do not arrive together."""
        ceiling: float = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** (attempts - 1))
        return ceiling * random.uniform(0.5, 1.0)
