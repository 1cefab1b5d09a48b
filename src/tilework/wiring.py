"""Build tilework's parts from settings: the one place that knows every layer."""

from __future__ import annotations

import os
from pathlib import Path

from tilework.api.deliveries import delivery_renderer
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.keys import DEFAULT_TENANT, Role
from tilework.core.settings import ADMIN_KEY_FILE, Settings
from tilework.objects.factory import open_object_store
from tilework.ops.registry import Registry
from tilework.queue import QueuePolicy
from tilework.queue.sql import SqlQueue
from tilework.retention.sweeper import Sweeper
from tilework.service.access import Authenticator
from tilework.service.limits import RateLimiter
from tilework.service.links import OutputLinks
from tilework.service.services import Services
from tilework.service.submitter import Submitter
from tilework.store.database import Database
from tilework.store.deliveries import Deliveries
from tilework.store.events import EventLog
from tilework.store.files import Files
from tilework.store.keys import ApiKeys
from tilework.store.notify import Polling, task_signal
from tilework.store.secrets import fal_signing_key, webhook_secrets
from tilework.superres.devices import model_devices
from tilework.superres.processes import ModelProcesses
from tilework.webhooks.deliverer import Deliverer
from tilework.worker.deadlines import Deadlines
from tilework.worker.pool import Duty, WorkerPool
from tilework.worker.presence import Presence
from tilework.worker.previews import Previews


def queue_policy(settings: Settings) -> QueuePolicy:
    return QueuePolicy(
        max_attempts=settings.max_attempts,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        max_queued=settings.max_queued,
        fair_share=settings.fair_share,
        tenant_weights=settings.tenant_weights,
        tenant_limits=settings.tenant_limits,
        operation_limits=settings.operation_limits,
        operation_limits_per_host=settings.operation_limits_per_host,
    )


def build_services(settings: Settings) -> Services:
    """What an API process holds: its own database connections, queue, objects and services."""
    database = Database(settings.resolved_database_url)
    registry = Registry.load(settings)
    check_deployments(settings, registry)
    queue = SqlQueue(database, registry, queue_policy(settings))
    objects = open_object_store(settings)
    keys = ApiKeys(database)
    return Services(
        settings,
        database,
        queue,
        objects,
        registry,
        Submitter(queue),
        EventLog(database),
        Deliveries(database),
        keys,
        Authenticator(keys),
        RateLimiter(settings.rate_limit_per_minute),
        Files(database),
        OutputLinks(settings, database, objects),
    )


def check_deployments(settings: Settings, registry: Registry) -> None:
    """Refuse to serve deployments that run no registered operation: found at start, not by
    the first caller."""
    for name, deployment in settings.deployments.items():
        if deployment.operation not in registry.names():
            raise TileworkError(
                ErrorCode.VALIDATION_FAILED,
                f"deployment {name} runs {deployment.operation!r}, which is not a registered "
                f"operation; operations are {', '.join(registry.names())}",
            )


def build_worker_pool(settings: Settings, count: int) -> WorkerPool:
    """``count`` worker loops sharing one queue, with connections of their own (not the API's)."""
    database = Database(settings.resolved_database_url)
    queue = SqlQueue(database, Registry.load(settings), queue_policy(settings))
    # A serving process without workers has nobody to wake: no listening connection.
    signal = (
        task_signal(settings.resolved_database_url, settings.database_listen_url)
        if count
        else Polling()
    )
    # Model processes only where there are task processes to serve.
    devices = model_devices(settings.device) if count else []
    models = ModelProcesses(devices, required=settings.device != "auto")
    # Every host that works sends webhooks too, claimed with the same leases as tasks, and
    # takes its turns at the retention sweep, deadlines and the console's previews.
    duties: list[Duty] = (
        [
            build_deliverer(settings, database),
            Sweeper(settings, database, open_object_store(settings)),
            Presence(settings, database, count),
            Deadlines(settings, queue, database),
            Previews(database, open_object_store(settings)),
        ]
        if count
        else []
    )
    return WorkerPool(settings, queue, signal, count, models, duties)


def build_deliverer(settings: Settings, database: Database) -> Deliverer:
    """The webhook sender, rendering bodies in the API's wire formats."""
    events = EventLog(database)
    return Deliverer(
        settings,
        Deliveries(database),
        events,
        delivery_renderer(
            settings,
            OutputLinks(settings, database, open_object_store(settings)),
            events,
            lambda tenant: webhook_secrets(settings, database, tenant),
            lambda: fal_signing_key(database),
        ),
    )


def ensure_admin_key(settings: Settings, keys: ApiKeys) -> Path | None:
    """On a first start, an admin key for the ``default`` tenant, its secret written to
    ``home/admin_key`` (0600) for the CLI. None when admin keys exist but this home has none:
    make one with ``tilework keys create --admin`` there."""
    path = settings.home / ADMIN_KEY_FILE
    if path.is_file():
        return path
    if keys.any_admin():
        return None
    _, secret = keys.create(DEFAULT_TENANT, "admin (made at first start)", role=Role.ADMIN)
    settings.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return path
