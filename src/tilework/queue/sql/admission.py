"""Admitting new jobs: idempotency, the queue's bound, each key's open jobs and credits, then
the rows of a whole batch written in two statements (group commit)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord, NewJob, NextStage
from tilework.queue.interface import Outcome
from tilework.queue.policy import OPEN_JOBS_RETRY_SECONDS
from tilework.queue.sql.depths import Depths
from tilework.queue.sql.rows import cached_source, job_values, lock_job, task_rows
from tilework.queue.sql.stages import Stages
from tilework.store.credits import reserve
from tilework.store.records import job_from_mapping, job_from_row
from tilework.store.schema import jobs, tasks
from tilework.store.uploads import name_uploads


class Submission:
    """One group commit: a batch of new jobs checked in order, then written together."""

    def __init__(self, stages: Stages, depths: Depths, conn: sa.Connection) -> None:
        self.stages = stages
        self.policy = stages.policy
        self.depths = depths
        self.conn = conn
        self.job_rows: list[dict[str, Any]] = []
        self.task_rows: list[dict[str, Any]] = []
        # Idempotency keys taken earlier in this batch, which the database cannot see yet.
        self.taken: dict[str, tuple[str | None, JobRecord]] = {}
        # What this batch adds, for the checks of its later jobs and for ``depths`` once the
        # batch is committed: tasks queued, and jobs per API key.
        self.added_tasks = 0
        self.added_jobs: dict[str, int] = {}

    def add_all(self, batch: Sequence[NewJob]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for new in batch:
            try:
                outcomes.append(self._add(new))
            except TileworkError as error:
                outcomes.append(error)
        if self.job_rows:
            self.conn.execute(jobs.insert(), self.job_rows)
            name_uploads(self.conn, [_naming(row) for row in self.job_rows])
        if self.task_rows:
            self.conn.execute(tasks.insert(), self.task_rows)
            self.stages.notify(self.conn)
        return outcomes

    def _add(self, new: NewJob) -> tuple[JobRecord, bool]:
        if new.idempotency_key is not None:
            existing = self._existing(new, new.idempotency_key)
            if existing is not None:
                return existing, False
        if new.use_cache and new.cache_key is not None:
            source = cached_source(self.conn, new.tenant, new.cache_key)
            if source is not None:
                job = self._from_cache(new, source)
                if new.idempotency_key is not None:
                    self.taken[new.idempotency_key] = (new.request_hash, job)
                return job, True
        if self.depths.queue_reaches(self.conn, self.policy.max_queued - self.added_tasks):
            raise TileworkError(
                ErrorCode.QUEUE_FULL,
                "the queue is full; retry later",
                {"max_queued": self.policy.max_queued},
            )
        self._check_open_jobs(new)
        values = job_values(new, time.time())
        if new.cost and new.key_id is not None:
            reserve(self.conn, new.key_id, values["id"], new.cost)
        job = self._staged(values)
        if new.key_id is not None:
            self.added_jobs[new.key_id] = self.added_jobs.get(new.key_id, 0) + 1
        if new.idempotency_key is not None:
            self.taken[new.idempotency_key] = (new.request_hash, job)
        return job, True

    def _from_cache(self, new: NewJob, source: JobRecord) -> JobRecord:
        """The job, ended at once with ``source``'s outputs, at no cost (delivered first if
        it names a destination)."""
        values = job_values(new, time.time())
        values.update(cost=None, started_at=values["created_at"])
        self.conn.execute(jobs.insert().values(values))
        name_uploads(self.conn, [_naming(values)])
        self.stages.answer_from_cache(self.conn, job_from_mapping(values), source)
        return lock_job(self.conn, values["id"])

    def _check_open_jobs(self, new: NewJob) -> None:
        limit = new.max_open_jobs
        if new.key_id is None or limit is None:
            return
        added = self.added_jobs.get(new.key_id, 0)
        if self.depths.key_reaches(self.conn, new.key_id, limit - added):
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
        row = self.conn.execute(sa.select(jobs).where(jobs.c.idempotency_key == key)).first()
        if row is None:
            return None
        _check_same_request(new, row.request_hash, row.id)
        return job_from_row(row)

    def _staged(self, values: dict[str, Any]) -> JobRecord:
        """The job with its first stage planned, its rows added to the batch."""
        job = job_from_mapping(values)
        try:
            step = self.stages.planner.plan(job, 0, [])
        except TileworkError:
            step = None
        if not isinstance(step, NextStage) or not step.tasks:
            # Rare shapes (an empty first stage, a job done at once, a plan that fails) take
            # the general path, which writes at once and re-reads the row.
            self.conn.execute(jobs.insert().values(values))
            name_uploads(self.conn, [_naming(values)])
            self.stages.advance(self.conn, job, 0, [])
            return lock_job(self.conn, job.id)
        count = len(step.tasks)
        values.update(stage_tasks=count, stage_remaining=count)
        self.job_rows.append(values)
        self.task_rows.extend(
            task_rows(job, 0, step, self.policy.max_attempts, values["created_at"])
        )
        self.added_tasks += count
        return replace(job, stage_tasks=count, stage_remaining=count)


def _check_same_request(new: NewJob, request_hash: str | None, job_id: str) -> None:
    if request_hash != new.request_hash:
        raise TileworkError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "this idempotency key was used with a different request",
            {"idempotency_key": new.idempotency_key, "job_id": job_id},
        )


def _naming(row: dict[str, Any]) -> tuple[str, str, object]:
    """A new job as ``name_uploads`` takes it: the uploads its input and params name are kept
    while the job is."""
    return row["id"], row["tenant"], [row["input"], row["params"]]
