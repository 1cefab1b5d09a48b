"""Build tilework's parts from settings: the one place that knows every layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tilework.core.settings import Settings
from tilework.imaging.devices import model_devices
from tilework.objects.factory import open_object_store
from tilework.ops.registry import Registry
from tilework.store.database import Database
from tilework.store.deliveries import Deliveries
from tilework.store.events import EventLog
from tilework.store.notify import Polling, task_signal
from tilework.store.queue import Queue, QueuePolicy
from tilework.worker.models import ModelProcesses
from tilework.worker.pool import WorkerPool

if TYPE_CHECKING:
    from tilework.api.state import ApiState


def queue_policy(settings: Settings) -> QueuePolicy:
    return QueuePolicy(
        max_attempts=settings.max_attempts,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        max_queued=settings.max_queued,
    )


def build_api_state(settings: Settings) -> ApiState:
    # Imported here so that worker processes, which import this module too, never load FastAPI.
    from tilework.api.state import ApiState
    from tilework.api.submitter import Submitter

    database = Database(settings.resolved_database_url)
    registry = Registry.load(settings)
    queue = Queue(database, registry, queue_policy(settings))
    objects = open_object_store(settings)
    return ApiState(
        settings,
        database,
        queue,
        objects,
        registry,
        Submitter(queue),
        EventLog(database),
        Deliveries(database),
    )


def build_worker_pool(settings: Settings, count: int) -> WorkerPool:
    """``count`` worker loops sharing one queue, with connections of their own (not the API's)."""
    database = Database(settings.resolved_database_url)
    queue = Queue(database, Registry.load(settings), queue_policy(settings))
    # A serving process without workers has nobody to wake: no listening connection.
    signal = (
        task_signal(settings.resolved_database_url, settings.database_listen_url)
        if count
        else Polling()
    )
    # Model processes only where there are task processes to serve.
    devices = model_devices(settings.device) if count else []
    models = ModelProcesses(devices, required=settings.device != "auto")
    return WorkerPool(settings, queue, signal, count, models)
