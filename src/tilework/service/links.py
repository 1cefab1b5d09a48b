"""The URL each output of a job is read at: tilework's own signed URL, or, for an output
delivered to a tenant's destination, the destination's public URL or one signed with its
credentials."""

from __future__ import annotations

import threading
import time

import structlog

from tilework.core.errors import TileworkError
from tilework.core.jobs import JsonDict
from tilework.core.settings import Settings
from tilework.objects.destinations import open_destination
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.store.database import Database
from tilework.store.destinations import find_destination

log = structlog.get_logger("tilework.links")

# A destination's bucket is opened once a while, not at every read of a job: its credentials
# are unsealed then. A changed destination signs with its new credentials within this.
OPENED_SECONDS = 60.0


class OutputLinks:
    def __init__(self, settings: Settings, database: Database, objects: ObjectStore) -> None:
        self.settings = settings
        self.database = database
        self.objects = objects  # the whole store: each job's files under its tenant's prefix
        self._opened: dict[tuple[str, str], tuple[float, ObjectStore | None]] = {}
        self._lock = threading.Lock()

    def url(self, tenant: str, output: JsonDict) -> str:
        seconds = self.settings.signed_url_seconds
        delivered = output.get("delivered")
        if delivered is not None:
            if delivered.get("url"):
                return str(delivered["url"])
            bucket = self._bucket(tenant, delivered["destination"])
            if bucket is not None:
                return bucket.url(delivered["key"], seconds)
        # Not delivered, or its destination is gone: tilework's copy, while the job is kept.
        return TenantObjects(self.objects, tenant).url(output["key"], seconds)

    def urls(self, tenant: str, outputs: list[JsonDict]) -> list[str]:
        return [self.url(tenant, output) for output in outputs]

    def _bucket(self, tenant: str, name: str) -> ObjectStore | None:
        now = time.monotonic()
        with self._lock:
            found = self._opened.get((tenant, name))
            if found is not None and found[0] > now:
                return found[1]
        try:
            destination = find_destination(self.database, self.settings.signing_key(), tenant, name)
        except TileworkError as error:  # sealed with another key: said in the log, not fatal
            log.warning(
                "destination_unreadable", tenant=tenant, destination=name, error=error.message
            )
            destination = None
        bucket = (
            None
            if destination is None
            else open_destination(destination, self.objects.scratch_dir())
        )
        with self._lock:
            self._opened[(tenant, name)] = (now + OPENED_SECONDS, bucket)
        return bucket
