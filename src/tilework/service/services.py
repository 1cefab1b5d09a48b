"""What the API process holds: one of each service, built once per process by
``tilework.wiring``."""

from __future__ import annotations

from dataclasses import dataclass

from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.ops.registry import Registry
from tilework.queue import Queue
from tilework.service.access import Authenticator
from tilework.service.limits import RateLimiter
from tilework.service.links import OutputLinks
from tilework.service.submitter import Submitter
from tilework.store.database import Database
from tilework.store.deliveries import Deliveries
from tilework.store.events import EventLog
from tilework.store.files import Files
from tilework.store.keys import ApiKeys
from tilework.store.secrets import webhook_secrets


@dataclass(frozen=True)
class Services:
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
    limits: RateLimiter
    files: Files
    links: OutputLinks

    def objects_for(self, tenant: str) -> ObjectStore:
        """The object store as ``tenant`` sees it: its keys under its own prefix."""
        return TenantObjects(self.objects, tenant)

    def webhook_secrets(self, tenant: str) -> list[str]:
        """The secrets ``tenant``'s webhooks are signed with, current first."""
        return webhook_secrets(self.settings, self.database, tenant)
