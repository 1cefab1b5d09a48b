"""A worker run until idle (``Worker.run(until_idle=True)``, ``tilework worker --burst``):
it works through every stage and every retry that is due, then returns, leaving work that is
due later for later."""

from __future__ import annotations

import time

import sqlalchemy as sa

from tests.support.jobs import submit
from tests.support.workers import work_until_idle
from tilework.core.jobs import JobStatus, TaskStatus
from tilework.core.settings import Settings
from tilework.queue.sql import SqlQueue
from tilework.store.schema import tasks
from tilework.worker.executor import Executor


def test_a_burst_runs_every_stage_and_every_retry_then_returns(
    settings: Settings, queue: SqlQueue
) -> None:
    staged = submit(queue, "noop", tasks=5, stages=3)
    flaky = submit(queue, "test_flaky", fail_attempts=2)  # retried after 0.01 s, then 0.02 s
    work_until_idle(settings, queue)
    done = queue.get_job(staged)
    assert done is not None and done.status is JobStatus.SUCCEEDED and done.tasks_done == 15
    retried = queue.get_job(flaky)
    assert retried is not None and retried.status is JobStatus.SUCCEEDED
    assert retried.attempts == 3
    assert not queue.has_work(within_seconds=3600)


def test_a_burst_leaves_work_that_is_due_later(settings: Settings, queue: SqlQueue) -> None:
    now = submit(queue, "noop")
    later = submit(queue, "noop")
    with queue.db.write() as conn:
        conn.execute(
            tasks.update().where(tasks.c.job_id == later).values(run_after=time.time() + 3600)
        )
    started = time.monotonic()
    work_until_idle(settings, queue)
    # The other task is due in an hour: a burst that waited for it would not end in a minute.
    assert time.monotonic() - started < 60
    assert queue.get_job(now).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]
    [waiting] = queue.job_tasks(later)
    assert waiting.status is TaskStatus.QUEUED and waiting.attempts == 0
    assert queue.has_work(within_seconds=7200) and not queue.has_work(within_seconds=60)


def test_a_burst_through_a_real_task_process_survives_its_crash(
    settings: Settings, queue: SqlQueue
) -> None:
    job_id = submit(queue, "test_crash", crash_attempts=1)
    work_until_idle(settings, queue, Executor(settings))
    job = queue.get_job(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED and job.attempts == 2
    with queue.db.read() as conn:
        (running,) = conn.execute(
            sa.select(sa.func.count()).where(tasks.c.status == TaskStatus.RUNNING.value)
        ).one()
    assert running == 0
