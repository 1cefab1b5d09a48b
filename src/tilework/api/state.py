"""What the routes reach: built once per process by ``tilework.wiring``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from tilework.api.submitter import Submitter
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.ops.registry import Registry
from tilework.store.database import Database
from tilework.store.deliveries import Deliveries
from tilework.store.events import EventLog
from tilework.store.keys import ApiKeys
from tilework.store.queue import Queue

if TYPE_CHECKING:
    from tilework.api.auth import Authenticator
    from tilework.api.limits import RateLimiter


@dataclass(frozen=True)
class ApiState:
    settings: Settings
    database: Database
    queue: Queue
    objects: ObjectStore
    registry: Registry
    submitter: Submitter
    events: EventLog
    deliveries: Deliveries
    keys: ApiKeys
    authenticator: Authenticator
    rate_limiter: RateLimiter

    def objects_for(self, tenant: str) -> ObjectStore:
        """The object store as ``tenant`` sees it: its keys under its own prefix."""
        return TenantObjects(self.objects, tenant)


async def api_state(request: Request) -> ApiState:
    # async only so that FastAPI calls it in place: a plain function costs a trip through the
    # thread pool on every request.
    state: ApiState = request.app.state.tilework
    return state
