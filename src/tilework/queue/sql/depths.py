"""How full the queue is, as admission checks it: queued tasks, and each key's open jobs.

Both are counts over rows that grow with the queue (``SELECT count(*)`` walks an index entry per
queued task), and admission needs them in every submit transaction. Counted every time, a lone
submit to a queue of 30,000 tasks spent more time counting than writing, and got slower with
every job it admitted. So each count is kept here and counted again at most once a
``REFRESH_SECONDS``; between counts, what this process admits is added to it.

Kept counts only drift upwards in this process (jobs end and tasks are claimed elsewhere), so
before admission refuses anything it counts again: a refusal is always from a fresh count. What
other API hosts admit is unseen until the next count, so across hosts a bound may be passed by
up to a second's worth of their submits, as it could already be by two transactions at once.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from tilework.core.jobs import JobStatus, TaskStatus
from tilework.store.schema import jobs, tasks

REFRESH_SECONDS = 1.0
MAX_KEYS = 10_000  # keys whose open jobs are kept; past it, the stale ones are forgotten

_QUEUED_TASKS = sa.select(sa.func.count()).where(tasks.c.status == TaskStatus.QUEUED.value)
_OPEN_JOBS = sa.select(sa.func.count()).where(
    jobs.c.key_id == sa.bindparam("key_id"),
    jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
)


class Depths:
    """The counts admission checks, shared by every submit transaction of one queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: tuple[int, float] | None = None  # the count and when it was made
        self._open: dict[str, tuple[int, float]] = {}

    def queued_tasks(self, conn: sa.Connection, fresh: bool = False) -> int:
        """Queued tasks: counted within ``REFRESH_SECONDS``, plus what was admitted since;
        ``fresh``: counted now."""
        now = time.monotonic()
        with self._lock:
            kept = self._queued
        if not fresh and kept is not None and now - kept[1] < REFRESH_SECONDS:
            return kept[0]
        count = int(conn.execute(_QUEUED_TASKS).scalar_one())
        with self._lock:
            self._queued = (count, now)
        return count

    def open_jobs(self, conn: sa.Connection, key_id: str, fresh: bool = False) -> int:
        """The key's jobs waiting or running, as ``queued_tasks`` counts."""
        now = time.monotonic()
        with self._lock:
            kept = self._open.get(key_id)
        if not fresh and kept is not None and now - kept[1] < REFRESH_SECONDS:
            return kept[0]
        count = int(conn.execute(_OPEN_JOBS, {"key_id": key_id}).scalar_one())
        with self._lock:
            if len(self._open) >= MAX_KEYS:
                self._open = {
                    key: kept for key, kept in self._open.items() if now - kept[1] < REFRESH_SECONDS
                }
            self._open[key_id] = (count, now)
        return count

    def admitted(self, tasks: int, jobs_by_key: dict[str, int]) -> None:
        """A committed submit transaction added these; kept counts take them until recounted."""
        with self._lock:
            if self._queued is not None:
                self._queued = (self._queued[0] + tasks, self._queued[1])
            for key_id, added in jobs_by_key.items():
                kept = self._open.get(key_id)
                if kept is not None:
                    self._open[key_id] = (kept[0] + added, kept[1])
