"""Rows of the jobs and tasks tables: the values written for new ones, and the locked reads
every write transaction starts from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.ids import new_id
from tilework.core.jobs import (
    TASK_FORMAT,
    JobRecord,
    JobStatus,
    NewJob,
    NextStage,
    PlannedTask,
    TaskRecord,
    TaskStatus,
)
from tilework.store.records import job_from_row, task_from_row
from tilework.store.schema import jobs, tasks

OPEN_TASK = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value)


def job_values(new: NewJob, now: float) -> dict[str, Any]:
    return {
        "id": new_id(),
        "operation": new.operation,
        "status": JobStatus.QUEUED.value,
        "params": new.params,
        "input": new.input,
        "stages": new.stages,
        "stage": 0,
        "stage_tasks": 0,
        "stage_remaining": 0,
        "tasks_done": 0,
        "attempts": 0,
        "outputs": [],
        "warnings": [],
        "timings": {},
        "error_code": None,
        "error_message": None,
        "idempotency_key": new.idempotency_key,
        "request_hash": new.request_hash,
        "created_at": now,
        "started_at": None,
        "completed_at": None,
        "webhook": new.webhook,
        "progress_at": None,
        "tenant": new.tenant,
        "key_id": new.key_id,
        "cost": new.cost or None,
        "deadline": _deadline(new, now),
        "delivery": new.delivery,
        "priority": new.priority,
        "run_at": new.run_at,
        "cache_key": new.cache_key,
        "traceparent": new.traceparent,
    }


def _deadline(new: NewJob, now: float) -> float | None:
    """The earlier of the deadline asked for and the one ``cancel_after`` seconds make."""
    found = [new.deadline] if new.deadline is not None else []
    if new.cancel_after is not None:
        found.append(now + new.cancel_after)
    return min(found) if found else None


def task_rows(
    job: JobRecord, stage: int, step: NextStage, max_attempts: int, now: float
) -> list[dict[str, Any]]:
    return [
        _task_values(job, stage, position, task, max_attempts, now)
        for position, task in enumerate(step.tasks)
    ]


def _task_values(
    job: JobRecord, stage: int, position: int, task: PlannedTask, max_attempts: int, now: float
) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "tenant": job.tenant,
        "operation": job.operation,
        "rank": -job.priority,
        "stage": stage,
        "position": position,
        "kind": task.kind,
        "payload": task.payload,
        # Hosts claim only tasks in a format they read (``TASK_FORMAT``): during a rolling
        # upgrade, a task written by a newer host waits for one.
        "version": TASK_FORMAT,
        "status": TaskStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "timeout_seconds": task.timeout_seconds,
        "run_after": max(now, job.run_at or 0.0),  # a scheduled start: not claimed before
        "created_at": now,
    }


def held_tasks(conn: sa.Connection, task_ids: list[int], worker_id: str) -> dict[int, TaskRecord]:
    """Those of ``task_ids`` still running under ``worker_id``'s lease."""
    rows = conn.execute(
        sa.select(tasks).where(
            tasks.c.id.in_(task_ids),
            tasks.c.status == TaskStatus.RUNNING.value,
            tasks.c.worker_id == worker_id,
        )
    )
    return {row.id: task_from_row(row) for row in rows}


def lock_jobs(conn: sa.Connection, job_ids: Iterable[str]) -> dict[str, JobRecord]:
    # One order for every transaction, so two workers locking the same jobs cannot deadlock.
    rows = conn.execute(
        sa.select(jobs).where(jobs.c.id.in_(sorted(job_ids))).order_by(jobs.c.id).with_for_update()
    )
    return {row.id: job_from_row(row) for row in rows}


def lock_job_or_none(conn: sa.Connection, job_id: str) -> JobRecord | None:
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id).with_for_update()).first()
    return job_from_row(row) if row else None


def lock_job(conn: sa.Connection, job_id: str) -> JobRecord:
    job = lock_job_or_none(conn, job_id)
    if job is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"job {job_id} does not exist")
    return job


def stage_tasks(conn: sa.Connection, job: JobRecord) -> list[TaskRecord]:
    """The tasks of the job's current stage, in the order they were planned."""
    rows = conn.execute(
        sa.select(tasks)
        .where(tasks.c.job_id == job.id, tasks.c.stage == job.stage)
        .order_by(tasks.c.position)
    )
    return [task_from_row(row) for row in rows]


def cached_source(conn: sa.Connection, tenant: str, key: str) -> JobRecord | None:
    """The tenant's latest succeeded job of cache key ``key`` still retained, locked: its
    deletion, which marks it first (``removing_at``), waits for this transaction or is seen
    by it."""
    row = conn.execute(
        sa.select(jobs)
        .where(
            jobs.c.tenant == tenant,
            jobs.c.cache_key == key,
            jobs.c.status == JobStatus.SUCCEEDED.value,
            jobs.c.removing_at.is_(None),
        )
        .order_by(jobs.c.completed_at.desc())
        .limit(1)
        .with_for_update()
    ).first()
    return None if row is None else job_from_row(row)
