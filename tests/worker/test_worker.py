"""A real worker with its real child process: crashes, timeouts, retries, cancel and drain."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager

from tests.support.jobs import submit
from tests.support.workers import ended, wait_for, working
from tilework.core.jobs import JobStatus, TaskStatus
from tilework.core.settings import Settings
from tilework.queue.sql import SqlQueue
from tilework.worker.executor import Executor
from tilework.worker.loop import Worker


def running_worker(settings: Settings, queue: SqlQueue) -> AbstractContextManager[Worker]:
    """A worker on a thread with its real task process."""
    return working(settings, queue, Executor(settings))


def test_a_crashing_task_is_retried_in_a_fresh_process(settings: Settings, queue: SqlQueue) -> None:
    with running_worker(settings, queue):
        job = wait_for(queue, submit(queue, "test_crash", crash_attempts=1), ended)
    assert job.status is JobStatus.SUCCEEDED and job.attempts == 2


def test_a_task_that_always_crashes_fails_the_job(settings: Settings, queue: SqlQueue) -> None:
    with running_worker(settings, queue):
        job = wait_for(queue, submit(queue, "test_crash", crash_attempts=9), ended)
    assert job.status is JobStatus.FAILED and job.error_code == "pipeline_error"
    assert "SIGSEGV" in (job.error_message or "") and job.attempts == 3


def test_an_error_is_retried_and_a_permanent_one_is_not(
    settings: Settings, queue: SqlQueue
) -> None:
    with running_worker(settings, queue):
        flaky = wait_for(queue, submit(queue, "test_flaky", fail_attempts=2), ended)
        permanent = wait_for(
            queue, submit(queue, "test_flaky", fail_attempts=1, code="corrupt_image"), ended
        )
    assert flaky.status is JobStatus.SUCCEEDED and flaky.attempts == 3
    assert permanent.status is JobStatus.FAILED and permanent.attempts == 1
    assert permanent.error_code == "corrupt_image"


def test_a_task_past_its_timeout_is_killed(settings: Settings, queue: SqlQueue) -> None:
    settings = settings.model_copy(update={"task_timeout": 0.5, "max_attempts": 1})
    queue = SqlQueue(queue.db, queue.planner, queue.policy.__class__(max_attempts=1))
    with running_worker(settings, queue):
        job_id = submit(queue, "test_sleep", seconds=30)
        wait_for(queue, job_id, lambda job: job.status is JobStatus.RUNNING)
        started = time.monotonic()  # from the claim: the task process's start is not timed
        job = wait_for(queue, job_id, ended)
    assert job.status is JobStatus.FAILED and job.error_code == "timeout"
    # A 0.5 s limit, far short of the fixture's task_timeout (20 s) and the task's 30 s.
    assert time.monotonic() - started < 10


def test_a_task_past_its_cpu_time_is_killed_without_a_retry(
    settings: Settings, queue: SqlQueue
) -> None:
    settings = settings.model_copy(update={"task_cpu_seconds": 1.0})
    with running_worker(settings, queue):
        # Each task gets its own second: three of 0.6 s in one task process all pass.
        quick = [submit(queue, "test_spin", seconds=0.6) for _ in range(3)]
        for job_id in quick:
            assert wait_for(queue, job_id, ended).status is JobStatus.SUCCEEDED
        started = time.monotonic()
        job = wait_for(queue, submit(queue, "test_spin", seconds=30), ended)
        took = time.monotonic() - started
        after = wait_for(queue, submit(queue, "test_spin", seconds=0.1), ended)
    assert job.status is JobStatus.FAILED and job.error_code == "timeout"
    assert "CPU" in (job.error_message or "") and job.attempts == 1
    # One CPU second, even at a share of a loaded core, against the task's 30 s of spinning
    # (the wall-clock limit, 20 s, would not say "CPU").
    assert took < 20
    assert after.status is JobStatus.SUCCEEDED  # a fresh task process took over


def test_a_canceled_running_task_is_abandoned_at_the_next_heartbeat(
    settings: Settings, queue: SqlQueue
) -> None:
    with running_worker(settings, queue):
        slow = submit(queue, "test_sleep", seconds=60)
        wait_for(queue, slow, lambda job: job.status is JobStatus.RUNNING)
        queue.cancel_job(slow)
        started = time.monotonic()
        quick = wait_for(queue, submit(queue, "noop"), ended)
        # The worker let go of the 60 s task at a heartbeat (every lease / 3, 0.7 s) and
        # started a fresh task process for the next: a third of the task's 60 s at most.
        assert quick.status is JobStatus.SUCCEEDED and time.monotonic() - started < 20
    assert queue.get_job(slow).status is JobStatus.CANCELED  # type: ignore[union-attr]


def test_stop_lets_the_running_task_finish(settings: Settings, queue: SqlQueue) -> None:
    worker = Worker(settings, queue, Executor(settings))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    job_id = submit(queue, "test_sleep", seconds=1)
    wait_for(queue, job_id, lambda job: job.status is JobStatus.RUNNING)
    worker.stop()
    thread.join(20)
    assert not thread.is_alive()
    assert queue.get_job(job_id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_drain_past_its_deadline_releases_the_task(settings: Settings, queue: SqlQueue) -> None:
    settings = settings.model_copy(update={"drain_seconds": 0.3})
    worker = Worker(settings, queue, Executor(settings))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    job_id = submit(queue, "test_sleep", seconds=60)
    wait_for(queue, job_id, lambda job: job.status is JobStatus.RUNNING)
    worker.stop()
    # A 0.3 s drain: within 20 s, far short of the 60 s task (or the default 30 s drain).
    thread.join(20)
    assert not thread.is_alive()
    [task] = queue.job_tasks(job_id)
    assert task.status is TaskStatus.QUEUED and task.attempts == 0
