"""What retention deletes, as rows: ended jobs past their tenant's retention (with their
tasks, events and webhook deliveries), and succeeded jobs whose intermediate files have not
been removed yet. The sweeper (``tilework.retention``) removes the files first, then the rows,
so a sweep that dies midway leaves rows that point at files already gone, never files that
nothing points at."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tilework.core.jobs import JobStatus
from tilework.store.counters import add
from tilework.store.deliveries import DeliveryStatus
from tilework.store.histograms import fold
from tilework.store.schema import (
    job_events,
    job_previews,
    job_uploads,
    jobs,
    provider_slots,
    tasks,
    webhook_deliveries,
)

ENDED = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELED.value)
UNSENT = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


@dataclass(frozen=True)
class EndedJob:
    id: str
    tenant: str
    output_keys: frozenset[str]


def expired(
    conn: sa.Connection,
    now: float,
    retention: float,
    by_tenant: Mapping[str, float],
    limit: int,
) -> list[EndedJob]:
    """Ended jobs past their retention (``retention`` seconds, or their tenant's in
    ``by_tenant``; 0 keeps forever), oldest first; not one with a webhook still to send."""
    kept_longer = list(by_tenant)
    windows = [
        sa.and_(jobs.c.tenant == tenant, jobs.c.completed_at < now - seconds)
        for tenant, seconds in by_tenant.items()
        if seconds > 0
    ]
    if retention > 0:
        windows.append(
            sa.and_(jobs.c.tenant.not_in(kept_longer), jobs.c.completed_at < now - retention)
        )
    if not windows:
        return []
    unsent = sa.select(webhook_deliveries.c.id).where(
        webhook_deliveries.c.job_id == jobs.c.id, webhook_deliveries.c.status.in_(UNSENT)
    )
    return _ended_jobs(conn, limit, jobs.c.status.in_(ENDED), sa.or_(*windows), ~unsent.exists())


def tenant_jobs(conn: sa.Connection, tenant: str, limit: int) -> list[EndedJob]:
    """A tenant's ended jobs, whatever their age (a purge)."""
    return _ended_jobs(conn, limit, jobs.c.tenant == tenant, jobs.c.status.in_(ENDED))


def uncleaned(conn: sa.Connection, limit: int) -> list[EndedJob]:
    """Succeeded jobs whose intermediate files are still there."""
    return _ended_jobs(
        conn, limit, jobs.c.status == JobStatus.SUCCEEDED.value, jobs.c.cleaned_at.is_(None)
    )


def mark_cleaned(conn: sa.Connection, job_ids: Sequence[str], now: float) -> None:
    conn.execute(jobs.update().where(jobs.c.id.in_(job_ids)).values(cleaned_at=now))


def delete_jobs(conn: sa.Connection, job_ids: Sequence[str], reason: str) -> int:
    """Delete ended jobs' rows (an open one is left alone); how many jobs went. Counted in
    ``jobs_deleted_total{reason}``."""
    ended = [
        row.id
        for row in conn.execute(
            sa.select(jobs.c.id).where(jobs.c.id.in_(job_ids), jobs.c.status.in_(ENDED))
        )
    ]
    if not ended:
        return 0
    fold(conn, job_ids=ended)  # their times stay in the histograms after their rows go
    task_ids = sa.select(tasks.c.id).where(tasks.c.job_id.in_(ended))
    conn.execute(provider_slots.delete().where(provider_slots.c.task_id.in_(task_ids)))
    for table in (webhook_deliveries, job_events, job_uploads, job_previews, tasks):
        conn.execute(table.delete().where(table.c.job_id.in_(ended)))
    conn.execute(jobs.delete().where(jobs.c.id.in_(ended)))
    add(conn, "jobs_deleted_total", len(ended), reason=reason)
    return len(ended)


def _ended_jobs(conn: sa.Connection, limit: int, *where: Any) -> list[EndedJob]:
    """Jobs that match ``where``, oldest ended first, with their outputs' keys."""
    query = (
        sa.select(jobs.c.id, jobs.c.tenant, jobs.c.outputs)
        .where(*where)
        .order_by(jobs.c.completed_at)
        .limit(limit)
    )
    return [
        EndedJob(
            row.id,
            row.tenant,
            frozenset(str(out["key"]) for out in row.outputs or [] if "key" in out),
        )
        for row in conn.execute(query)
    ]
