"""The worker's side of the SQL queue: tasks claimed with a lease (``store.leasing``), kept by
heartbeats and ended by an outcome, each a write transaction that locks the task's job first,
so "was that the stage's last task?" is answered exactly once."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import (
    REMOTE_STATE_KEY,
    TASK_FORMAT,
    ClaimedTask,
    JobRecord,
    JobStatus,
    TaskRecord,
    TaskStatus,
)
from tilework.queue.interface import Completion
from tilework.queue.sql.rows import OPEN_TASK, held_tasks, lock_job, lock_jobs
from tilework.queue.sql.scheduling import claim_fairly
from tilework.queue.sql.stages import Stages
from tilework.queue.workflow import add_timings, lost_worker_error
from tilework.store.database import Database, retry_deadlocks
from tilework.store.events import record_started
from tilework.store.leasing import Leased
from tilework.store.records import task_from_row
from tilework.store.schema import jobs, tasks

TASKS = Leased(
    tasks,
    held=TaskStatus.RUNNING.value,
    due=lambda now: sa.and_(
        tasks.c.status == TaskStatus.QUEUED.value,
        tasks.c.run_after <= now,
        # A task written by a newer host, in a format this one cannot read, waits for it.
        tasks.c.version <= TASK_FORMAT,
    ),
    order=lambda: [tasks.c.id],  # oldest first
)


OPEN_JOB = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
# Its code is timeout: the job did not fail, nobody canceled it; it ran out of time.
PAST_DEADLINE = "canceled: its deadline (deadline, Cancel-After) passed before it finished"


class Claims:
    """Mixed into ``SqlQueue``: everything a worker loop asks of the queue."""

    db: Database
    stages: Stages

    @retry_deadlocks
    def claim(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedTask]:
        now = time.time()
        with self.db.write() as conn:
            rows = claim_fairly(
                conn,
                self.db.dialect,
                TASKS,
                self.stages.policy,
                now=now,
                limit=limit,
                holder=worker_id,
                lease_seconds=lease_seconds,
                attempts=tasks.c.attempts + 1,
                started_at=now,
            )
            if not rows:
                return []
            return _attach_jobs(conn, [task_from_row(row) for row in rows], now)

    @retry_deadlocks
    def heartbeat(self, task_ids: Iterable[int], worker_id: str, lease_seconds: float) -> set[int]:
        with self.db.write() as conn:
            return TASKS.extend(conn, task_ids, worker_id, time.time() + lease_seconds)

    def complete(
        self, task_id: int, worker_id: str, result: dict[str, Any], timings: dict[str, float]
    ) -> bool:
        """Record a task's success and, if it was the stage's last, plan what follows."""
        return task_id in self.complete_many(worker_id, [Completion(task_id, result, timings)])

    @retry_deadlocks
    def complete_many(self, worker_id: str, done: Sequence[Completion]) -> set[int]:
        """Statements are per batch and per job, not per task: that is what lets a worker
        drain thousands of small tasks a second."""
        if not done:
            return set()
        with self.db.write() as conn:
            held = held_tasks(conn, [d.task_id for d in done], worker_id)
            accepted = [d for d in done if d.task_id in held]
            if not accepted:
                return set()
            by_job: dict[str, list[Completion]] = defaultdict(list)
            for completion in accepted:
                by_job[held[completion.task_id].job_id].append(completion)
            locked = lock_jobs(conn, by_job)
            conn.execute(
                tasks.update()
                .where(tasks.c.id == sa.bindparam("b_id"))
                .values(
                    status=TaskStatus.SUCCEEDED.value,
                    result=sa.bindparam("b_result", type_=tasks.c.result.type),
                    lease_until=None,
                    completed_at=time.time(),
                ),
                [{"b_id": d.task_id, "b_result": d.result} for d in accepted],
            )
            for job_id, completions in by_job.items():
                self.stages.count_done(conn, locked[job_id], completions)
            return {d.task_id for d in accepted}

    @retry_deadlocks
    def fail(self, task_id: int, worker_id: str, error: TileworkError) -> bool:
        with self.db.write() as conn:
            task = held_tasks(conn, [task_id], worker_id).get(task_id)
            if task is None:
                return False
            self.stages.failed_attempt(conn, lock_job(conn, task.job_id), task, error)
            return True

    @retry_deadlocks
    def defer(
        self,
        task_id: int,
        worker_id: str,
        state: dict[str, Any],
        seconds: float,
        timings: dict[str, float] | None = None,
    ) -> bool:
        """Kept as ``payload["deferred"]``, ``state`` is what the next run starts from; the
        attempt it ran as is not spent. The run's ``timings`` count toward the job's."""
        now = time.time()
        with self.db.write() as conn:
            task = held_tasks(conn, [task_id], worker_id).get(task_id)
            if task is None:
                return False
            times = conn.execute(
                sa.select(tasks.c.run_after, tasks.c.started_at).where(tasks.c.id == task_id)
            ).one()
            # Woken while it ran (the outside work ended that quickly): due again at once.
            woken = times.run_after > (times.started_at or now)
            remote = state.get(REMOTE_STATE_KEY)
            if timings or remote is not None:
                job = lock_job(conn, task.job_id)
                changes: dict[str, Any] = {}
                if timings:
                    changes["timings"] = add_timings(job.timings, timings)
                if remote is not None:  # shown by the job while the provider works
                    changes["remote"] = remote
                conn.execute(jobs.update().where(jobs.c.id == job.id).values(**changes))
            conn.execute(
                tasks.update()
                # Still this worker's: a cancel in between must not be undone.
                .where(TASKS.held_by([task_id], worker_id))
                .values(
                    status=TaskStatus.QUEUED.value,
                    attempts=tasks.c.attempts - 1,
                    payload={**task.payload, "deferred": state},
                    worker_id=None,
                    lease_until=None,
                    run_after=now if woken else now + seconds,
                )
            )
            if woken:
                self.stages.notify(conn)
            return True

    @retry_deadlocks
    def wake(self, task_id: int) -> bool:
        """A task still running is marked, and ``defer`` then makes it due at once."""
        with self.db.write() as conn:
            woken = conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id, tasks.c.status.in_(OPEN_TASK))
                .values(run_after=time.time())
            ).rowcount
            if woken:
                self.stages.notify(conn)
            return bool(woken)

    @retry_deadlocks
    def release(self, task_ids: Iterable[int], worker_id: str) -> int:
        with self.db.write() as conn:
            result = conn.execute(
                tasks.update()
                .where(TASKS.held_by(task_ids, worker_id))
                .values(
                    status=TaskStatus.QUEUED.value,
                    attempts=tasks.c.attempts - 1,
                    worker_id=None,
                    lease_until=None,
                    run_after=time.time(),
                )
            )
            if result.rowcount:
                self.stages.notify(conn)
            return int(result.rowcount)

    @retry_deadlocks
    def recover_expired(self, limit: int = 100) -> int:
        lost = self.db.dialect.claimable(
            sa.select(tasks)
            .where(TASKS.expired(time.time()))
            .order_by(tasks.c.lease_until)
            .limit(limit)
        )
        with self.db.write() as conn:
            expired = [task_from_row(row) for row in conn.execute(lost)]
            for task in expired:
                job = lock_job(conn, task.job_id)
                self.stages.failed_attempt(conn, job, task, lost_worker_error(task), lost=True)
            return len(expired)

    @retry_deadlocks
    def cancel_overdue(self, limit: int = 100) -> list[JobRecord]:
        now = time.time()
        overdue = self.db.dialect.claimable(
            sa.select(jobs.c.id)
            .where(jobs.c.status.in_(OPEN_JOB), jobs.c.deadline < now)
            .order_by(jobs.c.deadline)
            .limit(limit)
        )
        with self.db.write() as conn:
            job_ids = [row.id for row in conn.execute(overdue)]
            for job_id in job_ids:
                lock_job(conn, job_id)
                self.stages.end_job(
                    conn, job_id, JobStatus.CANCELED, ErrorCode.TIMEOUT, PAST_DEADLINE
                )
            return [lock_job(conn, job_id) for job_id in job_ids]

    def has_work(self, within_seconds: float) -> bool:
        """What a worker working until idle waits for (a running task may yet plan the next
        stage)."""
        due = time.time() + within_seconds
        pending = (
            sa.select(tasks.c.id)
            .where(sa.or_(tasks.c.status == TaskStatus.RUNNING.value, TASKS.due(due)))
            .limit(1)
        )
        with self.db.read() as conn:
            return conn.execute(pending).first() is not None


def _attach_jobs(conn: sa.Connection, claimed: list[TaskRecord], now: float) -> list[ClaimedTask]:
    """Mark the claimed tasks' jobs running (recording their start) and hand each task out
    with what it needs of its job."""
    job_ids = sorted({task.job_id for task in claimed})
    started = conn.execute(
        jobs.update()
        .where(jobs.c.id.in_(job_ids), jobs.c.status == JobStatus.QUEUED.value)
        .values(status=JobStatus.RUNNING.value, started_at=now, progress_at=now)
        .returning(*jobs.c)
    )
    record_started(conn, started.mappings().all(), now)
    # A job's attempts is the most any of its tasks has had: one statement per count.
    by_attempts: dict[int, set[str]] = defaultdict(set)
    for task in claimed:
        by_attempts[task.attempts].add(task.job_id)
    for attempts, ids in by_attempts.items():
        conn.execute(
            jobs.update()
            .where(jobs.c.id.in_(sorted(ids)), jobs.c.attempts < attempts)
            .values(attempts=attempts)
        )
    rows = conn.execute(
        sa.select(
            jobs.c.id,
            jobs.c.operation,
            jobs.c.params,
            jobs.c.input,
            jobs.c.tenant,
            jobs.c.reuses,
            jobs.c.traceparent,
        ).where(jobs.c.id.in_(job_ids))
    )
    by_id = {row.id: row for row in rows}
    return [
        ClaimedTask(
            task,
            by_id[task.job_id].operation,
            by_id[task.job_id].params,
            by_id[task.job_id].input,
            by_id[task.job_id].tenant,
            tuple(by_id[task.job_id].reuses or ()),
            by_id[task.job_id].traceparent,
        )
        for task in claimed
    ]
