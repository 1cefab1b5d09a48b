"""The reads the API needs: jobs by id and in pages, and a job's tasks."""

from __future__ import annotations

import sqlalchemy as sa

from tilework.core.jobs import JobRecord, JobStatus, TaskRecord, TaskStatus
from tilework.queue.interface import TenantQueue
from tilework.queue.sql.rows import OPEN_TASK
from tilework.store.database import Database
from tilework.store.records import job_from_row, task_from_row
from tilework.store.schema import jobs, tasks


class Reads:
    """Mixed into ``SqlQueue``; each read is one read transaction."""

    db: Database

    def get_job(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        query = sa.select(jobs).where(jobs.c.id == job_id)
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return job_from_row(row) if row else None

    def list_jobs(
        self,
        *,
        tenant: str | None = None,
        status: JobStatus | None = None,
        operation: str | None = None,
        limit: int = 50,
        before: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> list[JobRecord]:
        query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if operation is not None:
            query = query.where(jobs.c.operation == operation)
        if before is not None:
            query = query.where(jobs.c.id < before)
        if created_after is not None:
            query = query.where(jobs.c.created_at >= created_after)
        if created_before is not None:
            query = query.where(jobs.c.created_at < created_before)
        with self.db.read() as conn:
            return [job_from_row(row) for row in conn.execute(query)]

    def queue_position(self, job: JobRecord) -> int:
        if job.status is not JobStatus.QUEUED:
            return 0
        # Ids grow with time (``core.ids``): the queued jobs with smaller ids came first.
        query = (
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.status == JobStatus.QUEUED.value, jobs.c.id < job.id)
        )
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def job_tasks(self, job_id: str) -> list[TaskRecord]:
        query = sa.select(tasks).where(tasks.c.job_id == job_id).order_by(tasks.c.id)
        with self.db.read() as conn:
            return [task_from_row(row) for row in conn.execute(query)]

    def task(self, task_id: int) -> TaskRecord | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
        return task_from_row(row) if row else None

    def tenant_queues(self) -> list[TenantQueue]:
        queued = tasks.c.status == TaskStatus.QUEUED.value
        query = (
            sa.select(
                tasks.c.tenant,
                sa.func.count().filter(queued).label("queued"),
                sa.func.count().filter(tasks.c.status == TaskStatus.RUNNING.value).label("running"),
                sa.func.min(tasks.c.created_at).filter(queued).label("oldest"),
            )
            .where(tasks.c.status.in_(OPEN_TASK))
            .group_by(tasks.c.tenant)
            .order_by(tasks.c.tenant)
        )
        with self.db.read() as conn:
            return [
                TenantQueue(row.tenant, row.queued, row.running, row.oldest)
                for row in conn.execute(query)
            ]
