"""A worker host's presence: its row in ``worker_hosts`` (``store.workers``), leased to
itself when it starts, the lease extended every ``HEARTBEAT_SECONDS`` with the tasks it runs,
marked stopped when it stops. A host killed or cut off stops renewing, and shows as gone once
its lease lapses: ``GET /v1/workers`` and ``tilework_workers`` say so."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import replace

import structlog

import tilework
from tilework.core.settings import Settings
from tilework.store.database import Database
from tilework.store.workers import WorkerHost, beat, join, leave

log = structlog.get_logger("tilework.pool")

HEARTBEAT_SECONDS = 5.0
LEASE_BEATS = 3  # a host is gone after this many heartbeats missed


class Presence:
    """A duty of a worker host (``worker.pool.Duty``)."""

    def __init__(
        self, settings: Settings, database: Database, workers: int, host: str | None = None
    ) -> None:
        """``host``: the machine's name (its hostname unless given), the first part of its
        workers' lease holders (``core.ids.holder_id``), by which its running tasks count."""
        self.database = database
        host = host or socket.gethostname()
        self.host_id = f"{host}:{os.getpid()}"
        self.interval = min(HEARTBEAT_SECONDS, settings.lease_seconds / 3)
        self._row = WorkerHost(
            id=self.host_id,
            host=host,
            pid=os.getpid(),
            version=tilework.__version__,
            device=settings.device,
            workers=workers,
            started_at=time.time(),
            heartbeat_at=time.time(),
            lease_until=time.time() + LEASE_BEATS * self.interval,
            stopped_at=None,
            tasks_running=0,
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        join(self.database, self._row)
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
        leave(self.database, self.host_id)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                if not beat(self.database, self.host_id, LEASE_BEATS * self.interval):
                    # Its lease lapsed (the database was away, the host stalled) and it was
                    # listed gone: it is back.
                    log.warning("presence_lease_lost", host=self.host_id)
                    back = time.time() + LEASE_BEATS * self.interval
                    join(self.database, replace(self._row, lease_until=back))
            except Exception as exc:  # the database may be away a while: beat again later
                log.warning("heartbeat_failed", host=self.host_id, error=repr(exc)[:300])
