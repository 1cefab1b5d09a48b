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
        # (what, key id or "") -> (the count, when it was made)
        self._kept: dict[tuple[str, str], tuple[int, float]] = {}

    def queue_reaches(self, conn: sa.Connection, limit: int) -> bool:
        """Whether ``limit`` tasks or more are queued."""
        return self._reaches(conn, ("queued", ""), _QUEUED_TASKS, {}, limit)

    def key_reaches(self, conn: sa.Connection, key_id: str, limit: int) -> bool:
        """Whether the key has ``limit`` jobs or more waiting or running."""
        return self._reaches(conn, ("open", key_id), _OPEN_JOBS, {"key_id": key_id}, limit)

    def admitted(self, tasks: int, jobs_by_key: dict[str, int]) -> None:
        """A committed submit transaction added these; kept counts take them until recounted."""
        additions = {("queued", ""): tasks} | {
            ("open", key_id): added for key_id, added in jobs_by_key.items()
        }
        with self._lock:
            for name, added in additions.items():
                if (kept := self._kept.get(name)) is not None:
                    self._kept[name] = (kept[0] + added, kept[1])

    def _reaches(
        self,
        conn: sa.Connection,
        name: tuple[str, str],
        count: sa.Select[int],
        params: dict[str, str],
        limit: int,
    ) -> bool:
        """The kept count, if made within ``REFRESH_SECONDS``, when it says below ``limit``;
        else a fresh count's answer: a "yes" is never from a kept count."""
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(name)
        if kept is not None and now - kept[1] < REFRESH_SECONDS and kept[0] < limit:
            return False
        counted = int(conn.execute(count, params).scalar_one())
        with self._lock:
            if len(self._kept) >= MAX_KEYS:
                self._kept = {
                    other: entry
                    for other, entry in self._kept.items()
                    if now - entry[1] < REFRESH_SECONDS
                }
            self._kept[name] = (counted, now)
        return counted >= limit
