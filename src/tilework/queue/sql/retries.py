"""A retry: a new job that picks up a failed or canceled one where it stopped.

The old job is final (clients and webhooks took its end as such) and only learns who retries
it (``retried_by``). The new one starts at the stage the old one stopped in: that stage's
tasks that succeeded are copied as they ended, with their results, and the others queued
afresh; the stages before it are not run again. The files the copied tasks made stay in the
old job's folder: the new job's tasks read through it (``objects.reuse``), and a ref to that
folder keeps it while the new job is kept (``store.objectrefs``).
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.ids import new_id
from tilework.core.jobs import JobRecord, JobStatus, TaskStatus
from tilework.objects.paths import job_folder
from tilework.queue.sql.rows import lock_job, lock_job_or_none, stage_tasks
from tilework.queue.sql.stages import Stages
from tilework.store.credits import reserve
from tilework.store.objectrefs import refer, refs_of
from tilework.store.schema import jobs, tasks
from tilework.store.uploads import name_uploads

RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELED)
# A copied task that did not succeed starts over: these go back to what a new task has.
_AFRESH = {
    "status": TaskStatus.QUEUED.value,
    "attempts": 0,
    "result": None,
    "error_code": None,
    "error_message": None,
    "worker_id": None,
    "lease_until": None,
    "started_at": None,
    "completed_at": None,
}


def retry_job(
    conn: sa.Connection,
    stages: Stages,
    job_id: str,
    tenant: str,
    key_id: str | None,
    cost: float,
) -> tuple[JobRecord, bool]:
    """The retry of ``job_id`` (the tenant's), and whether this call made it: a job retried
    already answers the retry it has."""
    old = lock_job_or_none(conn, job_id)
    if old is None or old.tenant != tenant or _removing(conn, job_id):
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    if old.retried_by is not None:
        return lock_job(conn, old.retried_by), False
    if old.status not in RETRYABLE:
        raise TileworkError(
            ErrorCode.JOB_NOT_RETRYABLE,
            f"job {job_id} is {old.status.value}: only a failed or canceled job is retried",
            {"id": job_id, "status": old.status.value},
        )
    now = time.time()
    values = _job_values(old, key_id, cost, now)
    if cost and key_id is not None:
        reserve(conn, key_id, values["id"], cost)
    copied = [
        _task_values(dict(row), values, now)
        for row in conn.execute(
            sa.select(tasks)
            .where(tasks.c.job_id == old.id, tasks.c.stage == old.stage)
            .order_by(tasks.c.position)
        ).mappings()
    ]
    done = sum(1 for row in copied if row["status"] == TaskStatus.SUCCEEDED.value)
    values.update(
        stage=old.stage if copied else 0,
        stage_tasks=len(copied),
        stage_remaining=len(copied) - done,
        tasks_done=done,
    )
    conn.execute(jobs.insert().values(values))
    conn.execute(jobs.update().where(jobs.c.id == old.id).values(retried_by=values["id"]))
    name_uploads(conn, [(values["id"], tenant, [values["input"], values["params"]])])
    # The old job's folder, and whatever it used itself, are used by the new one.
    refer(conn, values["id"], tenant, [job_folder(old.id), *refs_of(conn, old.id)])
    job = lock_job(conn, values["id"])
    if copied:
        conn.execute(tasks.insert(), copied)
        stages.notify(conn)
    if not copied:  # it ended before any task (a plan that failed): planned from the start
        stages.advance(conn, job, 0, [])
    elif not job.stage_remaining:  # its stage was done; it failed planning the next
        stages.advance(conn, job, job.stage + 1, stage_tasks(conn, job))
    return lock_job(conn, values["id"]), True


def _removing(conn: sa.Connection, job_id: str) -> bool:
    """Whether the job's deletion began: its files may be going."""
    query = sa.select(jobs.c.removing_at).where(jobs.c.id == job_id)
    return conn.execute(query).scalar_one_or_none() is not None


def _job_values(old: JobRecord, key_id: str | None, cost: float, now: float) -> dict[str, Any]:
    """The new job: the old one's request, anew, reading through the old one's files."""
    return {
        "id": new_id(),
        "operation": old.operation,
        "status": JobStatus.QUEUED.value,
        "params": old.params,
        "input": old.input,
        "stages": old.stages,
        "attempts": 0,
        "outputs": [],
        "warnings": [],
        "timings": {},
        "created_at": now,
        "webhook": old.webhook,
        "tenant": old.tenant,
        "key_id": key_id,
        "cost": cost or None,
        "delivery": old.delivery,
        "priority": old.priority,
        "cache_key": old.cache_key,
        "traceparent": old.traceparent,
        "retry_of": old.id,
        "reuses": [old.id, *old.reuses],
    }


def _task_values(row: dict[str, Any], job: dict[str, Any], now: float) -> dict[str, Any]:
    """A task of the old job's last stage, as the new job's: as it ended if it succeeded,
    else to run again (a remote request it waited on is not waited on again)."""
    del row["id"]
    row.update(job_id=job["id"], rank=-job["priority"])
    if row["status"] != TaskStatus.SUCCEEDED.value:
        payload = {name: value for name, value in row["payload"].items() if name != "deferred"}
        row.update(_AFRESH, payload=payload, run_after=now, created_at=now)
    return row
