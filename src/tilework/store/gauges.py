"""What ``/metrics`` reads of the queue's state at each scrape: jobs by status and operation,
tasks by status, the oldest due task's wait. Each a grouped count over an index, so a scrape
costs a few reads however many hosts work."""

from __future__ import annotations

import time

import sqlalchemy as sa

from tilework.core.jobs import TaskStatus
from tilework.store.database import Database
from tilework.store.schema import jobs, tasks


def job_counts(database: Database) -> list[tuple[str, str, int]]:
    """(status, operation, jobs) for every pair with jobs (retained ones: retention bounds it)."""
    query = sa.select(jobs.c.status, jobs.c.operation, sa.func.count()).group_by(
        jobs.c.status, jobs.c.operation
    )
    with database.read() as conn:
        return [(row[0], row[1], int(row[2])) for row in conn.execute(query)]


def task_counts(database: Database) -> list[tuple[str, int]]:
    query = sa.select(tasks.c.status, sa.func.count()).group_by(tasks.c.status)
    with database.read() as conn:
        return [(row[0], int(row[1])) for row in conn.execute(query)]


def oldest_due_wait(database: Database) -> float:
    """Seconds the oldest task that could run now has waited (0 when none waits)."""
    now = time.time()
    query = sa.select(sa.func.min(tasks.c.created_at)).where(
        tasks.c.status == TaskStatus.QUEUED.value, tasks.c.run_after <= now
    )
    with database.read() as conn:
        oldest = conn.execute(query).scalar_one_or_none()
    return 0.0 if oldest is None else max(0.0, now - float(oldest))
