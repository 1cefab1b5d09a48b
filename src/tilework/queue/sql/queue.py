"""The queue on SQLite or PostgreSQL: jobs and tasks as rows, every state change one write
transaction.

The job row is locked (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already
serializes writers) before any task of it changes state, so "was that the last task of the
stage?" and "plan the next stage" happen exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord, JobStatus, NewJob, Planner
from tilework.queue.interface import Outcome
from tilework.queue.policy import QueuePolicy
from tilework.queue.sql.admission import Submission
from tilework.queue.sql.claims import Claims
from tilework.queue.sql.depths import Depths
from tilework.queue.sql.reads import Reads
from tilework.queue.sql.retries import retry_job
from tilework.queue.sql.rows import lock_job, lock_job_or_none
from tilework.queue.sql.stages import Stages
from tilework.store.database import Database, retry_deadlocks


class SqlQueue(Reads, Claims):
    """``tilework.queue.Queue`` on a ``Database``."""

    def __init__(self, database: Database, planner: Planner, policy: QueuePolicy) -> None:
        self.db = database
        self.planner = planner
        self.policy = policy
        self.stages = Stages(planner, policy, database.dialect)
        self.depths = Depths()

    def create_job(self, new: NewJob) -> tuple[JobRecord, bool]:
        outcome = self.create_jobs([new])[0]
        if isinstance(outcome, TileworkError):
            raise outcome
        return outcome

    def create_jobs(self, batch: Sequence[NewJob]) -> list[Outcome]:
        try:
            return self._submit(batch)
        except sa.exc.IntegrityError:
            # Another process inserted one of these idempotency keys between our read and our
            # insert (PostgreSQL; SQLite serialises writers). One at a time, each job now
            # either sees that row or is the one that failed.
            if len(batch) == 1:
                return self._submit(batch)
            return [outcome for new in batch for outcome in self.create_jobs([new])]

    def _submit(self, batch: Sequence[NewJob]) -> list[Outcome]:
        with self.db.write() as conn:
            submission = Submission(self.stages, self.depths, conn)
            outcomes = submission.add_all(batch)
        self.depths.admitted(submission.added_tasks, submission.added_jobs)
        return outcomes

    @retry_deadlocks
    def retry_job(
        self, job_id: str, tenant: str, key_id: str | None, cost: float
    ) -> tuple[JobRecord, bool]:
        with self.db.write() as conn:
            return retry_job(conn, self.stages, job_id, tenant, key_id, cost)

    @retry_deadlocks
    def cancel_job(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        with self.db.write() as conn:
            job = lock_job_or_none(conn, job_id)
            if job is not None and tenant is not None and job.tenant != tenant:
                return None
            if job is None or job.status.terminal:
                return job
            self.stages.end_job(
                conn, job_id, JobStatus.CANCELED, ErrorCode.CANCELED, "canceled by request"
            )
            return lock_job(conn, job_id)
