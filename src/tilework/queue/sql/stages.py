"""The workflow written down: inside a queue transaction, what ``queue.workflow`` decides
becomes rows (tasks inserted or settled, a stage counted, a job ended with its credits and
events)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
import structlog

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import (
    EventType,
    Finished,
    JobRecord,
    JobStatus,
    NextStage,
    Planner,
    TaskRecord,
    TaskStatus,
)
from tilework.core.sources import FETCH_KIND
from tilework.queue.interface import Completion
from tilework.queue.policy import QueuePolicy
from tilework.queue.sql.rows import OPEN_TASK, cached_source, stage_tasks, task_rows
from tilework.queue.workflow import (
    FailJob,
    Retry,
    Substitute,
    add_timings,
    after_failure,
    plan_next,
)
from tilework.store.counters import add
from tilework.store.credits import settle
from tilework.store.dialect import Dialect
from tilework.store.events import progress_due, record_event, record_progress
from tilework.store.notify import CHANNEL
from tilework.store.objectrefs import refer
from tilework.store.records import job_from_row
from tilework.store.schema import jobs, tasks

log = structlog.get_logger("tilework.queue")


class Stages:
    """Moves jobs through their stages; every method runs inside the caller's transaction,
    on a job row the caller has locked."""

    def __init__(self, planner: Planner, policy: QueuePolicy, dialect: Dialect) -> None:
        self.planner = planner
        self.policy = policy
        self.dialect = dialect

    def notify(self, conn: sa.Connection) -> None:
        """Wake idle workers at commit: tasks became claimable."""
        self.dialect.notify(conn, CHANNEL)

    def insert_tasks(
        self, conn: sa.Connection, job: JobRecord, stage: int, step: NextStage
    ) -> None:
        rows = task_rows(job, stage, step, self.policy.max_attempts, time.time())
        conn.execute(tasks.insert(), rows)
        self.notify(conn)

    def advance(
        self, conn: sa.Connection, job: JobRecord, stage: int, previous: list[TaskRecord]
    ) -> None:
        """Write what follows ``previous``: the next stage's tasks, or the job's end."""
        if previous and previous[0].kind == FETCH_KIND:
            job = self._fetched(conn, job, previous[0])
            source = (
                None if job.cache_key is None else cached_source(conn, job.tenant, job.cache_key)
            )
            if source is not None:
                self.answer_from_cache(conn, job, source)
                return
        planned = plan_next(self.planner, job, stage, previous)
        if planned.empty_through is not None:
            _set_stage(conn, job.id, planned.empty_through, 0)
        outcome = planned.outcome
        if isinstance(outcome, FailJob):
            self.end_job(conn, job.id, JobStatus.FAILED, outcome.code, outcome.message)
        elif isinstance(outcome, Finished):
            self._finish(conn, job.id, outcome)
        else:
            self.insert_tasks(conn, job, planned.stage, outcome)
            _set_stage(conn, job.id, planned.stage, len(outcome.tasks))

    def answer_from_cache(self, conn: sa.Connection, job: JobRecord, source: JobRecord) -> None:
        """End ``job`` with the outputs of ``source``, an equal job's: shared (each used by
        ``job``, so none goes while it is kept), charged nothing, counted as a cache hit."""
        origin = source.cached_from or source.id
        outputs = [_undelivered(output) for output in source.outputs]
        refer(conn, job.id, job.tenant, [str(output["key"]) for output in outputs])
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(cached_from=origin))
        finished = Finished(outputs, source.warnings, source.result, cost=0.0)
        self.answer(conn, replace(job, cached_from=origin), finished)
        add(conn, "cache_hits_total", operation=job.operation)
        log.info(
            "cache_hit",
            job_id=job.id,
            tenant=job.tenant,
            cached_from=origin,
            operation=job.operation,
        )

    def _fetched(self, conn: sa.Connection, job: JobRecord, fetch: TaskRecord) -> JobRecord:
        """The job once its URL input is fetched: its input the stored copy, its cache key
        made from the copy's sha256."""
        assert fetch.result is not None
        found = {"input": fetch.result["input"], "cache_key": fetch.result["cache_key"]}
        conn.execute(jobs.update().where(jobs.c.id == job.id).values(**found))
        return replace(job, **found)

    def answer(self, conn: sa.Connection, job: JobRecord, finished: Finished) -> None:
        """End ``job`` with outputs made by another job (a cache hit), or deliver them first."""
        outcome = self.planner.answered(job, finished)
        if isinstance(outcome, Finished):
            self._finish(conn, job.id, outcome)
        else:
            stage = outcome.stage if outcome.stage is not None else job.stage
            self.insert_tasks(conn, job, stage, outcome)
            _set_stage(conn, job.id, stage, len(outcome.tasks))

    def count_done(self, conn: sa.Connection, job: JobRecord, done: list[Completion]) -> None:
        """Fan-in: ``done`` (tasks of ``job``, just succeeded) leave the stage's count; the
        stage's last plans the next."""
        if job.status.terminal:
            return
        timings = job.timings
        for completion in done:
            timings = add_timings(timings, completion.timings)
        remaining = job.stage_remaining - len(done)
        update = (
            jobs.update()
            .where(jobs.c.id == job.id)
            .values(
                stage_remaining=remaining, tasks_done=job.tasks_done + len(done), timings=timings
            )
        )
        if remaining:
            conn.execute(update)
        else:
            # The stage's last: the row as updated comes back with the update (the job is
            # locked already), one round trip fewer than reading it again for the plan.
            updated = job_from_row(conn.execute(update.returning(*jobs.c)).one())
            self.advance(conn, updated, job.stage + 1, stage_tasks(conn, job))
        # Checked on the record this transaction locked: most completions cost no extra read.
        if progress_due(job, time.time()):
            record_progress(conn, job.id)

    def failed_attempt(
        self,
        conn: sa.Connection,
        job: JobRecord,
        task: TaskRecord,
        error: TileworkError,
        *,
        lost: bool = False,
    ) -> None:
        """Settle a failed attempt of ``task`` and write what follows it."""
        decision = after_failure(self.planner, self.policy, job, task, error, lost=lost)
        now = time.time()
        values: dict[str, Any] = {
            "error_code": error.code.value,
            "error_message": error.message,
            "worker_id": None,
            "lease_until": None,
            "attempt_log": _logged_attempt(conn, task, error, lost, decision, now),
        }
        if lost:
            add(conn, "task_lease_expired_total", operation=job.operation)
        if error.details.get("process_died"):
            add(conn, "task_process_crashes_total", operation=job.operation)
        if isinstance(decision, Retry):
            add(conn, "task_retries_total", operation=job.operation)
            values.update(status=TaskStatus.QUEUED.value, run_after=now + decision.delay)
        elif isinstance(decision, Substitute):
            # The same row, fresh attempts: the stage's count of open tasks does not change,
            # and the original error stays on the row for the record.
            values.update(
                kind=decision.task.kind,
                payload=decision.task.payload,
                timeout_seconds=decision.task.timeout_seconds,
                status=TaskStatus.QUEUED.value,
                attempts=0,
                run_after=now,
            )
        else:  # FailJob, Abandon
            values.update(status=TaskStatus.FAILED.value, completed_at=now)
        conn.execute(tasks.update().where(tasks.c.id == task.id).values(**values))
        if isinstance(decision, FailJob):
            self.end_job(conn, job.id, JobStatus.FAILED, decision.code, decision.message)
        elif values.get("run_after") == now:
            # Due at once (a substitute, a lost worker's retry): wake idle workers.
            self.notify(conn)

    def end_job(
        self, conn: sa.Connection, job_id: str, status: JobStatus, code: ErrorCode, message: str
    ) -> None:
        """End a job unfinished (failed, canceled), settling its credits and its event."""
        now = time.time()
        ended = (
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(
                    status=status.value,
                    error_code=code.value,
                    error_message=message,
                    completed_at=now,
                )
                .returning(*jobs.c)
            )
            .mappings()
            .one()
        )
        # Open tasks of an ended job are canceled: queued ones are never claimed, running ones
        # fail their next heartbeat and their late completion is refused.
        conn.execute(
            tasks.update()
            .where(tasks.c.job_id == job_id, tasks.c.status.in_(OPEN_TASK))
            .values(status=TaskStatus.CANCELED.value, lease_until=None, completed_at=now)
        )
        settle(conn, ended, succeeded=False)
        record_event(conn, ended, EventType.ending(status))
        if status is JobStatus.FAILED:  # by code: provider_misconfigured is the operator's
            add(conn, "jobs_failed_total", operation=ended["operation"], code=code.value)

    def _finish(self, conn: sa.Connection, job_id: str, finished: Finished) -> None:
        done = (
            conn.execute(
                jobs.update()
                .where(jobs.c.id == job_id)
                .values(
                    status=JobStatus.SUCCEEDED.value,
                    outputs=finished.outputs,
                    warnings=finished.warnings,
                    result=finished.result,
                    completed_at=time.time(),
                )
                .returning(*jobs.c)
            )
            .mappings()
            .one()
        )
        settle(conn, done, succeeded=True, made=finished.cost, detail=finished.cost_detail)
        record_event(conn, done, EventType.SUCCEEDED)


def _set_stage(conn: sa.Connection, job_id: str, stage: int, count: int) -> None:
    conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id)
        .values(stage=stage, stage_tasks=count, stage_remaining=count)
    )


def _undelivered(output: dict[str, Any]) -> dict[str, Any]:
    """An output as it was made: where another job delivered it is that job's own."""
    return {name: value for name, value in output.items() if name != "delivered"}


# What followed a failed attempt, by the decision's type (``queue.workflow``).
AFTER_FAILURE: dict[type, str] = {
    Retry: "retried",
    Substitute: "substituted",
    FailJob: "failed the job",
}
ATTEMPT_LOG_ENTRIES = 20  # a task's log keeps its first attempts and its last ones
ERROR_CHARS = 500


def _logged_attempt(
    conn: sa.Connection,
    task: TaskRecord,
    error: TileworkError,
    lost: bool,
    decision: object,
    now: float,
) -> list[dict[str, Any]]:
    """The task's attempt log with this failed attempt added: who ran it, from when, how it
    ended and what follows (a retry, a substitute, the end). Read here, on the failure path
    only: a success writes nothing to it."""
    row = conn.execute(
        sa.select(tasks.c.attempt_log, tasks.c.worker_id, tasks.c.started_at).where(
            tasks.c.id == task.id
        )
    ).one()
    logged = list(row.attempt_log or [])
    logged.append(
        {
            "attempt": task.attempts,
            "kind": task.kind,
            "worker": row.worker_id,
            "started_at": row.started_at,
            "ended_at": now,
            "error_code": error.code.value,
            "error": error.message[:ERROR_CHARS],
            "lease_expired": lost,
            "then": AFTER_FAILURE.get(type(decision), "ended"),
        }
    )
    if len(logged) > ATTEMPT_LOG_ENTRIES:
        half = ATTEMPT_LOG_ENTRIES // 2
        logged = logged[:half] + logged[-half:]
    return logged
