"""What the routes reach: built once per process by ``tilework.wiring``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from tilework.api.submitter import Submitter
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.ops.registry import Registry
from tilework.store.database import Database
from tilework.store.deliveries import Deliveries
from tilework.store.events import EventLog
from tilework.store.queue import Queue


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


async def api_state(request: Request) -> ApiState:
    # async only so that FastAPI calls it in place: a plain function costs a trip through the
    # thread pool on every request.
    state: ApiState = request.app.state.tilework
    return state
