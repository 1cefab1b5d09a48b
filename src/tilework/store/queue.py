"""The durable queue: jobs and tasks as rows, claimed with leases, fanned in atomically.

Every state change is one write transaction. The job row is locked (``FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already serializes writers) before any task of it changes state, so
"was that the last task of the stage?" and "plan the next stage" happen exactly once.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.ids import new_id
from tilework.core.jobs import (
    ClaimedTask,
    EventType,
    Finished,
    JobRecord,
    JobStatus,
    NewJob,
    NextStage,
    PlannedTask,
    Planner,
    TaskRecord,
    TaskStatus,
)
from tilework.store.credits import reserve, settle
from tilework.store.database import Database, retry_deadlocks
from tilework.store.events import progress_due, record_event, record_progress, record_started
from tilework.store.notify import CHANNEL
from tilework.store.records import job_from_mapping, job_from_row, task_from_row
from tilework.store.schema import jobs, tasks

_OPEN_TASK = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value)
OPEN_JOBS_RETRY_SECONDS = 5  # a key at its limit of open jobs: when to try again


@dataclass(frozen=True)
class QueuePolicy:
    max_attempts: int = 3
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    max_queued: int = 10_000

    def retry_delay(self, attempts: int) -> float:
        """Capped exponential backoff with jitter, so retries of a burst do not arrive together."""
        ceiling: float = min(self.retry_max_seconds, self.retry_base_seconds * 2 ** (attempts - 1))
        return ceiling * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Completion:
    """A task's successful outcome, reported with others in one transaction."""

    task_id: int
    result: dict[str, Any]
    timings: dict[str, float]


class Queue:
    def __init__(self, database: Database, planner: Planner, policy: QueuePolicy) -> None:
        self.db = database
        self.planner = planner
        self.policy = policy

    # --- submitting and reading jobs ------------------------------------------------------

    def create_job(self, new: NewJob) -> tuple[JobRecord, bool]:
        """Insert a job and its first stage's tasks; returns (job, created).

        A repeated idempotency key with the same request hash returns the existing job.
        """
        outcome = self.create_jobs([new])[0]
        if isinstance(outcome, TileworkError):
            raise outcome
        return outcome

    def create_jobs(self, batch: Sequence[NewJob]) -> list[tuple[JobRecord, bool] | TileworkError]:
        """Insert many jobs in one write transaction (group commit); one outcome per job.

        A job refused on its own (queue full, idempotency conflict) gets its error as its
        outcome and does not hold back the others.
        """
        try:
            return self._submit(batch)
        except sa.exc.IntegrityError:
            # Another process inserted one of these idempotency keys between our read and our
            # insert (PostgreSQL; SQLite serialises writers). One at a time, each job now
            # either sees that row or is the one that failed.
            if len(batch) == 1:
                return self._submit(batch)
            return [outcome for new in batch for outcome in self.create_jobs([new])]

    def _submit(self, batch: Sequence[NewJob]) -> list[tuple[JobRecord, bool] | TileworkError]:
        with self.db.write() as conn:
            return _Submission(self, conn).add_all(batch)

    def get_job(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        """The job, if it exists and (when ``tenant`` is given) is that tenant's."""
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
    ) -> list[JobRecord]:
        """Newest first; ``before`` is the id of the last job of the previous page."""
        query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(limit)
        if tenant is not None:
            query = query.where(jobs.c.tenant == tenant)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if operation is not None:
            query = query.where(jobs.c.operation == operation)
        if before is not None:
            query = query.where(jobs.c.id < before)
        with self.db.read() as conn:
            return [job_from_row(row) for row in conn.execute(query)]

    def job_tasks(self, job_id: str) -> list[TaskRecord]:
        query = sa.select(tasks).where(tasks.c.job_id == job_id).order_by(tasks.c.id)
        with self.db.read() as conn:
            return [task_from_row(row) for row in conn.execute(query)]

    @retry_deadlocks
    def cancel_job(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        """Cancel a job that has not ended: its open tasks stop counting; running ones are
        abandoned by their workers at the next heartbeat."""
        with self.db.write() as conn:
            job = self._lock_job_or_none(conn, job_id)
            if job is not None and tenant is not None and job.tenant != tenant:
                return None
            if job is None or job.status.terminal:
                return job
            self._end_job(
                conn, job_id, JobStatus.CANCELED, ErrorCode.CANCELED, "canceled by request"
            )
            return self._lock_job(conn, job_id)

    # --- the worker's side ----------------------------------------------------------------

    @retry_deadlocks
    def claim(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedTask]:
        """Take up to ``limit`` due tasks, oldest first, leased to ``worker_id``."""
        now = time.time()
        due = (
            sa.select(tasks.c.id)
            .where(tasks.c.status == TaskStatus.QUEUED.value, tasks.c.run_after <= now)
            .order_by(tasks.c.id)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claim = (
            tasks.update()
            .where(tasks.c.id.in_(due.scalar_subquery()))
            .values(
                status=TaskStatus.RUNNING.value,
                attempts=tasks.c.attempts + 1,
                lease_until=now + lease_seconds,
                worker_id=worker_id,
                started_at=now,
            )
            .returning(*tasks.c)
        )
        with self.db.write() as conn:
            claimed = [task_from_row(row) for row in conn.execute(claim)]
            if not claimed:
                return []
            return self._attach_jobs(conn, claimed, now)

    @retry_deadlocks
    def heartbeat(self, task_ids: Iterable[int], worker_id: str, lease_seconds: float) -> set[int]:
        """Extend the leases; returns the ids still this worker's (not canceled, not lost)."""
        with self.db.write() as conn:
            rows = conn.execute(
                tasks.update()
                .where(
                    tasks.c.id.in_(list(task_ids)),
                    tasks.c.status == TaskStatus.RUNNING.value,
                    tasks.c.worker_id == worker_id,
                )
                .values(lease_until=time.time() + lease_seconds)
                .returning(tasks.c.id)
            )
            return {row.id for row in rows}

    def complete(
        self, task_id: int, worker_id: str, result: dict[str, Any], timings: dict[str, float]
    ) -> bool:
        """Record a task's success and, if it was the stage's last, plan what follows."""
        return task_id in self.complete_many(worker_id, [Completion(task_id, result, timings)])

    @retry_deadlocks
    def complete_many(self, worker_id: str, done: Sequence[Completion]) -> set[int]:
        """Record successes in one transaction; returns the ids that were still this worker's.

        Statements are per batch and per job, not per task: that is what lets a worker drain
        thousands of small tasks a second.
        """
        if not done:
            return set()
        with self.db.write() as conn:
            held = self._held_tasks(conn, [d.task_id for d in done], worker_id)
            accepted = [d for d in done if d.task_id in held]
            if not accepted:
                return set()
            by_job: dict[str, list[Completion]] = defaultdict(list)
            for completion in accepted:
                by_job[held[completion.task_id].job_id].append(completion)
            locked = self._lock_jobs(conn, by_job)
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
                self._count_done(conn, locked[job_id], completions)
            return {d.task_id for d in accepted}

    def _count_done(
        self, conn: sa.Connection, job: JobRecord, completions: list[Completion]
    ) -> None:
        if job.status.terminal:
            return
        timings = job.timings
        for completion in completions:
            timings = _add_timings(timings, completion.timings)
        remaining = job.stage_remaining - len(completions)
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job.id)
            .values(
                stage_remaining=remaining,
                tasks_done=job.tasks_done + len(completions),
                timings=timings,
            )
        )
        if remaining == 0:
            self._advance(conn, self._lock_job(conn, job.id), job.stage + 1, self._stage(conn, job))
        # Checked on the record this transaction locked: most completions cost no extra read.
        if progress_due(job, time.time()):
            record_progress(conn, job.id)

    @retry_deadlocks
    def fail(self, task_id: int, worker_id: str, error: TileworkError) -> bool:
        """Record a failed attempt: retry later if allowed, else fail the job with its code."""
        with self.db.write() as conn:
            task = self._held_tasks(conn, [task_id], worker_id).get(task_id)
            if task is None:
                return False
            job = self._lock_job(conn, task.job_id)
            retry = (
                error.retryable and task.attempts < task.max_attempts and not job.status.terminal
            )
            self._settle_failed_task(conn, task, error, retry)
            if not retry and not job.status.terminal:
                self._give_up(conn, job, task, error)
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
        """Put a held task back to run again after ``seconds`` (or when woken), keeping
        ``state`` as its ``payload["deferred"]``; the attempt it ran as is not spent. The run's
        ``timings`` count toward the job's."""
        now = time.time()
        with self.db.write() as conn:
            task = self._held_tasks(conn, [task_id], worker_id).get(task_id)
            if task is None:
                return False
            times = conn.execute(
                sa.select(tasks.c.run_after, tasks.c.started_at).where(tasks.c.id == task_id)
            ).one()
            # Woken while it ran (the outside work ended that quickly): due again at once.
            woken = times.run_after > (times.started_at or now)
            if timings:
                job = self._lock_job(conn, task.job_id)
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id == job.id)
                    .values(timings=_add_timings(job.timings, timings))
                )
            conn.execute(
                tasks.update()
                # Still this worker's: a cancel in between must not be undone.
                .where(
                    tasks.c.id == task_id,
                    tasks.c.status == TaskStatus.RUNNING.value,
                    tasks.c.worker_id == worker_id,
                )
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
                self._notify(conn)
            return True

    @retry_deadlocks
    def wake(self, task_id: int) -> bool:
        """Make a deferred task due now (its outside work reported back). A task still running
        is marked, and ``defer`` then makes it due at once. False: no such open task."""
        with self.db.write() as conn:
            woken = conn.execute(
                tasks.update()
                .where(tasks.c.id == task_id, tasks.c.status.in_(_OPEN_TASK))
                .values(run_after=time.time())
            ).rowcount
            if woken:
                self._notify(conn)
            return bool(woken)

    def has_work(self, within_seconds: float) -> bool:
        """Whether a task is running, or queued and due within ``within_seconds``: what a
        worker working until idle waits for (a running task may yet plan the next stage)."""
        due = time.time() + within_seconds
        pending = (
            sa.select(tasks.c.id)
            .where(
                sa.or_(
                    tasks.c.status == TaskStatus.RUNNING.value,
                    sa.and_(tasks.c.status == TaskStatus.QUEUED.value, tasks.c.run_after <= due),
                )
            )
            .limit(1)
        )
        with self.db.read() as conn:
            return conn.execute(pending).first() is not None

    def task(self, task_id: int) -> TaskRecord | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
        return task_from_row(row) if row else None

    @retry_deadlocks
    def release(self, task_ids: Iterable[int], worker_id: str) -> int:
        """Give held tasks back untouched (shutdown): the attempt does not count."""
        with self.db.write() as conn:
            result = conn.execute(
                tasks.update()
                .where(
                    tasks.c.id.in_(list(task_ids)),
                    tasks.c.status == TaskStatus.RUNNING.value,
                    tasks.c.worker_id == worker_id,
                )
                .values(
                    status=TaskStatus.QUEUED.value,
                    attempts=tasks.c.attempts - 1,
                    worker_id=None,
                    lease_until=None,
                    run_after=time.time(),
                )
            )
            if result.rowcount:
                self._notify(conn)
            return int(result.rowcount)

    @retry_deadlocks
    def recover_expired(self, limit: int = 100) -> int:
        """Requeue tasks whose worker stopped heartbeating; fail those out of attempts."""
        lost = (
            sa.select(tasks)
            .where(tasks.c.status == TaskStatus.RUNNING.value, tasks.c.lease_until < time.time())
            .order_by(tasks.c.lease_until)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            lost = lost.with_for_update(skip_locked=True)
        with self.db.write() as conn:
            expired = [task_from_row(row) for row in conn.execute(lost)]
            for task in expired:
                self._recover(conn, task)
            return len(expired)

    # --- inside transactions --------------------------------------------------------------

    def _recover(self, conn: sa.Connection, task: TaskRecord) -> None:
        job = self._lock_job(conn, task.job_id)
        error = TileworkError(
            ErrorCode.TIMEOUT,
            f"the worker running task {task.index} of stage {task.stage} stopped responding "
            f"({task.attempts} of {task.max_attempts} attempts)",
        )
        retry = task.attempts < task.max_attempts and not job.status.terminal
        # A lost worker is retried at once: the lease has already been a delay.
        self._settle_failed_task(conn, task, error, retry, delay=0.0)
        if retry:
            self._notify(conn)
        if not retry and not job.status.terminal:
            self._give_up(conn, job, task, error)

    def _give_up(
        self, conn: sa.Connection, job: JobRecord, task: TaskRecord, error: TileworkError
    ) -> None:
        """A task is out of attempts: run its operation's substitute in its place, or fail."""
        try:
            substitute = self.planner.substitute(job, task, error)
        except TileworkError as planning:
            substitute, error = None, planning
        if substitute is None:
            self._end_job(conn, job.id, JobStatus.FAILED, error.code, error.message)
            return
        # The same row, fresh attempts: the stage's count of open tasks does not change, and
        # the original error stays on the row for the record.
        conn.execute(
            tasks.update()
            .where(tasks.c.id == task.id)
            .values(
                kind=substitute.kind,
                payload=substitute.payload,
                timeout_seconds=substitute.timeout_seconds,
                status=TaskStatus.QUEUED.value,
                attempts=0,
                run_after=time.time(),
                completed_at=None,
            )
        )
        self._notify(conn)

    def _settle_failed_task(
        self,
        conn: sa.Connection,
        task: TaskRecord,
        error: TileworkError,
        retry: bool,
        delay: float | None = None,
    ) -> None:
        now = time.time()
        values: dict[str, Any] = {
            "error_code": error.code.value,
            "error_message": error.message,
            "worker_id": None,
            "lease_until": None,
        }
        if retry:
            wait = self.policy.retry_delay(task.attempts) if delay is None else delay
            values.update(status=TaskStatus.QUEUED.value, run_after=now + wait)
        else:
            values.update(status=TaskStatus.FAILED.value, completed_at=now)
        conn.execute(tasks.update().where(tasks.c.id == task.id).values(**values))

    def _advance(
        self, conn: sa.Connection, job: JobRecord, stage: int, previous: list[TaskRecord]
    ) -> None:
        """Ask the planner what follows ``previous`` and write it: tasks, or the job's end."""
        try:
            step = self.planner.plan(job, stage, previous)
        except TileworkError as error:
            self._end_job(conn, job.id, JobStatus.FAILED, error.code, error.message)
            return
        if isinstance(step, Finished):
            self._finish(conn, job.id, step)
        elif not step.tasks:
            # A stage with nothing to do is complete at once: plan the one after it.
            self._set_stage(conn, job.id, stage, 0)
            self._advance(conn, self._lock_job(conn, job.id), stage + 1, [])
        else:
            self._insert_tasks(conn, job.id, stage, step)
            self._set_stage(conn, job.id, stage, len(step.tasks))

    def _insert_tasks(self, conn: sa.Connection, job_id: str, stage: int, step: NextStage) -> None:
        conn.execute(tasks.insert(), self._task_rows(job_id, stage, step, time.time()))
        self._notify(conn)

    def _notify(self, conn: sa.Connection) -> None:
        """Wake idle workers at commit (PostgreSQL merges repeats within a transaction)."""
        if self.db.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_notify(CHANNEL, "")))

    def _task_rows(
        self, job_id: str, stage: int, step: NextStage, now: float
    ) -> list[dict[str, Any]]:
        return [
            _task_values(job_id, stage, position, task, self.policy.max_attempts, now)
            for position, task in enumerate(step.tasks)
        ]

    def _set_stage(self, conn: sa.Connection, job_id: str, stage: int, count: int) -> None:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(stage=stage, stage_tasks=count, stage_remaining=count)
        )

    def _finish(self, conn: sa.Connection, job_id: str, finished: Finished) -> None:
        row = conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                status=JobStatus.SUCCEEDED.value,
                outputs=finished.outputs,
                warnings=finished.warnings,
                completed_at=time.time(),
            )
            .returning(*jobs.c)
        ).mappings()
        done = row.one()
        settle(conn, done, succeeded=True)
        record_event(conn, done, EventType.SUCCEEDED)

    def _end_job(
        self, conn: sa.Connection, job_id: str, status: JobStatus, code: ErrorCode, message: str
    ) -> None:
        now = time.time()
        row = conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                status=status.value, error_code=code.value, error_message=message, completed_at=now
            )
            .returning(*jobs.c)
        ).mappings()
        ended = row.one()
        # Open tasks of an ended job are canceled: queued ones are never claimed, running ones
        # fail their next heartbeat and their late completion is refused.
        conn.execute(
            tasks.update()
            .where(tasks.c.job_id == job_id, tasks.c.status.in_(_OPEN_TASK))
            .values(status=TaskStatus.CANCELED.value, lease_until=None, completed_at=now)
        )
        settle(conn, ended, succeeded=False)
        record_event(conn, ended, EventType.ending(status))

    def _attach_jobs(
        self, conn: sa.Connection, claimed: list[TaskRecord], now: float
    ) -> list[ClaimedTask]:
        job_ids = sorted({task.job_id for task in claimed})
        started = conn.execute(
            jobs.update()
            .where(jobs.c.id.in_(job_ids), jobs.c.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.RUNNING.value, started_at=now, progress_at=now)
            .returning(*jobs.c)
        )
        record_started(conn, started.mappings().all())
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
                jobs.c.id, jobs.c.operation, jobs.c.params, jobs.c.input, jobs.c.tenant
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
            )
            for task in claimed
        ]

    def _held_tasks(
        self, conn: sa.Connection, task_ids: list[int], worker_id: str
    ) -> dict[int, TaskRecord]:
        rows = conn.execute(
            sa.select(tasks).where(
                tasks.c.id.in_(task_ids),
                tasks.c.status == TaskStatus.RUNNING.value,
                tasks.c.worker_id == worker_id,
            )
        )
        return {row.id: task_from_row(row) for row in rows}

    def _lock_jobs(self, conn: sa.Connection, job_ids: Iterable[str]) -> dict[str, JobRecord]:
        # One order for every transaction, so two workers locking the same jobs cannot deadlock.
        rows = conn.execute(
            sa.select(jobs)
            .where(jobs.c.id.in_(sorted(job_ids)))
            .order_by(jobs.c.id)
            .with_for_update()
        )
        return {row.id: job_from_row(row) for row in rows}

    def _stage(self, conn: sa.Connection, job: JobRecord) -> list[TaskRecord]:
        rows = conn.execute(
            sa.select(tasks)
            .where(tasks.c.job_id == job.id, tasks.c.stage == job.stage)
            .order_by(tasks.c.position)
        )
        return [task_from_row(row) for row in rows]

    def _lock_job_or_none(self, conn: sa.Connection, job_id: str) -> JobRecord | None:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id).with_for_update()).first()
        return job_from_row(row) if row else None

    def _lock_job(self, conn: sa.Connection, job_id: str) -> JobRecord:
        job = self._lock_job_or_none(conn, job_id)
        if job is None:
            raise TileworkError(ErrorCode.NOT_FOUND, f"job {job_id} does not exist")
        return job

    def _by_idempotency_key(self, conn: sa.Connection, new: NewJob) -> JobRecord | None:
        row = conn.execute(
            sa.select(jobs).where(jobs.c.idempotency_key == new.idempotency_key)
        ).first()
        if row is None:
            return None
        _check_same_request(new, row.request_hash, row.id)
        return job_from_row(row)

    def _open_jobs(self, conn: sa.Connection, key_id: str) -> int:
        count = sa.select(sa.func.count()).where(
            jobs.c.key_id == key_id,
            jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]),
        )
        return int(conn.execute(count).scalar_one())

    def _queued_tasks(self, conn: sa.Connection) -> int:
        count = sa.select(sa.func.count()).where(tasks.c.status == TaskStatus.QUEUED.value)
        return int(conn.execute(count).scalar_one())


class _Submission:
    """One group commit: a batch of new jobs checked in order, then written in two statements."""

    def __init__(self, queue: Queue, conn: sa.Connection) -> None:
        self.queue = queue
        self.conn = conn
        self.queued = queue._queued_tasks(conn)
        self.job_rows: list[dict[str, Any]] = []
        self.task_rows: list[dict[str, Any]] = []
        # Idempotency keys taken earlier in this batch, which the database cannot see yet.
        self.taken: dict[str, tuple[str | None, JobRecord]] = {}
        # Jobs waiting or running per API key, counting this batch's.
        self.open_jobs: dict[str, int] = {}

    def add_all(self, batch: Sequence[NewJob]) -> list[tuple[JobRecord, bool] | TileworkError]:
        outcomes: list[tuple[JobRecord, bool] | TileworkError] = []
        for new in batch:
            try:
                outcomes.append(self._add(new))
            except TileworkError as error:
                outcomes.append(error)
        if self.job_rows:
            self.conn.execute(jobs.insert(), self.job_rows)
        if self.task_rows:
            self.conn.execute(tasks.insert(), self.task_rows)
            self.queue._notify(self.conn)
        return outcomes

    def _add(self, new: NewJob) -> tuple[JobRecord, bool]:
        if new.idempotency_key is not None:
            existing = self._existing(new, new.idempotency_key)
            if existing is not None:
                return existing, False
        if self.queued >= self.queue.policy.max_queued:
            raise TileworkError(
                ErrorCode.QUEUE_FULL,
                "the queue is full; retry later",
                {"max_queued": self.queue.policy.max_queued},
            )
        self._check_open_jobs(new)
        values = _job_values(new, time.time())
        if new.cost and new.key_id is not None:
            reserve(self.conn, new.key_id, values["id"], new.cost)
        job = self._staged(values)
        if new.key_id is not None:
            self.open_jobs[new.key_id] += 1
        if new.idempotency_key is not None:
            self.taken[new.idempotency_key] = (new.request_hash, job)
        return job, True

    def _check_open_jobs(self, new: NewJob) -> None:
        if new.key_id is None:
            return
        if new.key_id not in self.open_jobs:
            self.open_jobs[new.key_id] = self.queue._open_jobs(self.conn, new.key_id)
        limit = new.max_open_jobs
        if limit is not None and self.open_jobs[new.key_id] >= limit:
            raise TileworkError(
                ErrorCode.RATE_LIMITED,
                f"this key has {limit} jobs waiting or running already; retry when some end",
                {"max_queued_jobs": limit, "retry_after_seconds": OPEN_JOBS_RETRY_SECONDS},
            )

    def _existing(self, new: NewJob, key: str) -> JobRecord | None:
        if key in self.taken:
            request_hash, job = self.taken[key]
            _check_same_request(new, request_hash, job.id)
            return job
        return self.queue._by_idempotency_key(self.conn, new)

    def _staged(self, values: dict[str, Any]) -> JobRecord:
        """The job with its first stage planned, its rows added to the batch."""
        job = job_from_mapping(values)
        try:
            step = self.queue.planner.plan(job, 0, [])
        except TileworkError:
            step = None
        if not isinstance(step, NextStage) or not step.tasks:
            # Rare shapes (an empty first stage, a job done at once, a plan that fails) take
            # the general path, which writes at once and re-reads the row.
            self.conn.execute(jobs.insert().values(values))
            self.queue._advance(self.conn, job, 0, [])
            return self.queue._lock_job(self.conn, job.id)
        count = len(step.tasks)
        values.update(stage_tasks=count, stage_remaining=count)
        self.job_rows.append(values)
        self.task_rows.extend(self.queue._task_rows(job.id, 0, step, values["created_at"]))
        self.queued += count
        return replace(job, stage_tasks=count, stage_remaining=count)


def _check_same_request(new: NewJob, request_hash: str | None, job_id: str) -> None:
    if request_hash != new.request_hash:
        raise TileworkError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "this idempotency key was used with a different request",
            {"idempotency_key": new.idempotency_key, "job_id": job_id},
        )


def _job_values(new: NewJob, now: float) -> dict[str, Any]:
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
    }


def _task_values(
    job_id: str, stage: int, position: int, task: PlannedTask, max_attempts: int, now: float
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "stage": stage,
        "position": position,
        "kind": task.kind,
        "payload": task.payload,
        "status": TaskStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": max_attempts,
        "timeout_seconds": task.timeout_seconds,
        "run_after": now,
        "created_at": now,
    }


def _add_timings(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    merged = dict(total)
    for step, seconds in more.items():
        merged[step] = round(merged.get(step, 0.0) + seconds, 4)
    return merged
