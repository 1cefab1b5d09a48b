"""The queue's contract, on real SQLite and PostgreSQL databases, driven as workers drive it."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.support.jobs import LEASE, WORKER, noop_job
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import (
    TASK_FORMAT,
    Finished,
    JobRecord,
    JobStatus,
    NewJob,
    NextStage,
    PlannedTask,
    TaskRecord,
    TaskStatus,
)
from tilework.queue import QueuePolicy
from tilework.queue.sql import SqlQueue, depths
from tilework.store.schema import tasks


def drain(queue: SqlQueue, worker: str = WORKER) -> int:
    """Claim and complete until nothing is due; returns how many tasks ran."""
    ran = 0
    while claimed := queue.claim(worker, 10, LEASE):
        for item in claimed:
            assert queue.complete(
                item.task.id, worker, {"n": item.task.payload["n"]}, {"sleep": 0.5}
            )
            ran += 1
    return ran


def test_a_job_fans_out_and_in_through_its_stages(queue: SqlQueue) -> None:
    job, created = queue.create_job(noop_job(tasks=3, stages=2))
    assert created and job.status is JobStatus.QUEUED
    assert (job.stage, job.stage_tasks, job.stage_remaining) == (0, 3, 3)
    first = queue.claim(WORKER, 10, LEASE)
    assert [item.task.stage for item in first] == [0, 0, 0]
    assert queue.get_job(job.id).status is JobStatus.RUNNING  # type: ignore[union-attr]
    for item in first:
        queue.complete(item.task.id, WORKER, {}, {"sleep": 0.25})
    after_stage_one = queue.get_job(job.id)
    assert after_stage_one is not None
    assert (after_stage_one.stage, after_stage_one.stage_remaining) == (1, 3)
    assert drain(queue) == 3
    done = queue.get_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.tasks_done == 6 and done.timings == {"sleep": 2.25}
    assert done.completed_at is not None and done.started_at is not None


def test_an_idempotency_key_returns_the_same_job_or_conflicts(queue: SqlQueue) -> None:
    job, created = queue.create_job(noop_job(key="k1", digest="a"))
    again, created_again = queue.create_job(noop_job(key="k1", digest="a"))
    assert created and not created_again and again.id == job.id
    with pytest.raises(TileworkError) as caught:
        queue.create_job(noop_job(key="k1", digest="b"))
    assert caught.value.code is ErrorCode.IDEMPOTENCY_CONFLICT
    assert len(queue.job_tasks(job.id)) == 1


def test_submits_past_max_queued_are_refused(queue: SqlQueue) -> None:
    small = SqlQueue(queue.db, queue.planner, QueuePolicy(max_queued=5))
    small.create_job(noop_job(tasks=5))
    with pytest.raises(TileworkError) as caught:
        small.create_job(noop_job())
    assert caught.value.code is ErrorCode.QUEUE_FULL
    drain(small)
    small.create_job(noop_job())


def test_submits_count_the_queue_once_a_refresh_not_once_each(
    queue: SqlQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting queued tasks walks an index entry per task: a lone submit to a long queue spent
    more on the count than on its own rows. Submits within ``REFRESH_SECONDS`` of a count add
    what they admit to it, and a refusal counts again: the bound still holds exactly here."""
    monkeypatch.setattr(depths, "REFRESH_SECONDS", 3600.0)  # no refresh during the test
    small = SqlQueue(queue.db, queue.planner, QueuePolicy(max_queued=6))
    counts: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if "count(*)" in statement.lower() and "tasks" in statement:
            counts.append(statement)

    sa.event.listen(queue.db.engine, "before_cursor_execute", seen)
    try:
        for _ in range(6):  # six queued: full
            small.create_job(noop_job())
        with pytest.raises(TileworkError) as caught:
            small.create_job(noop_job())
    finally:
        sa.event.remove(queue.db.engine, "before_cursor_execute", seen)
    assert caught.value.code is ErrorCode.QUEUE_FULL
    assert len(counts) == 2, counts  # the first submit's count and the refusal's


def test_a_batch_is_one_commit_with_an_outcome_per_job(queue: SqlQueue) -> None:
    small = SqlQueue(queue.db, queue.planner, QueuePolicy(max_queued=4))
    outcomes = small.create_jobs(
        [
            noop_job(tasks=2, key="a", digest="1"),
            noop_job(tasks=2, key="a", digest="1"),  # same key in the same batch: same job
            noop_job(key="a", digest="2"),  # same key, other request: refused alone
            noop_job(tasks=2),
            noop_job(),  # four tasks now wait: the queue is full
        ]
    )
    first, replayed, conflict, second, full = outcomes
    assert isinstance(first, tuple) and isinstance(replayed, tuple) and isinstance(second, tuple)
    assert first[1] and not replayed[1] and second[1]
    assert replayed[0] == first[0]
    assert isinstance(conflict, TileworkError)
    assert conflict.code is ErrorCode.IDEMPOTENCY_CONFLICT
    assert isinstance(full, TileworkError) and full.code is ErrorCode.QUEUE_FULL
    # What the batch answered is what it wrote.
    for job, _ in (first, second):
        assert queue.get_job(job.id) == job
        assert [task.index for task in queue.job_tasks(job.id)] == [0, 1]
    assert [job.id for job in queue.list_jobs()] == [second[0].id, first[0].id]
    assert queue.create_job(noop_job(tasks=2, key="a", digest="1")) == (first[0], False)


class ShapedPlanner:
    """Jobs whose first stage is empty or cannot be planned: the shapes a batch writes apart."""

    def plan(self, job: JobRecord, stage: int, previous: list[TaskRecord]) -> NextStage | Finished:
        shape = job.params["shape"]
        if shape == "unplannable":
            raise TileworkError(ErrorCode.PIPELINE_ERROR, "no plan for this job")
        if stage == len(job.stages):
            return Finished(outputs=[])
        empty = shape == "empty-first" and stage == 0
        return NextStage([] if empty else [PlannedTask("noop", {"n": 0})])

    def substitute(self, job: JobRecord, task: TaskRecord, error: TileworkError) -> None:
        return None


def test_a_batch_writes_rare_shapes_the_general_way(queue: SqlQueue) -> None:
    shaped = SqlQueue(queue.db, ShapedPlanner(), queue.policy)

    def job(shape: str) -> NewJob:
        return NewJob("shaped", {"shape": shape}, {}, ["one", "two"], request_hash=shape)

    outcomes = shaped.create_jobs([job("plain"), job("empty-first"), job("unplannable")])
    plain, empty_first, unplannable = (outcome[0] for outcome in outcomes)  # type: ignore[index]
    assert (plain.stage, plain.stage_tasks, plain.status) == (0, 1, JobStatus.QUEUED)
    assert (empty_first.stage, empty_first.stage_tasks) == (1, 1)
    assert [task.stage for task in shaped.job_tasks(empty_first.id)] == [1]
    assert unplannable.status is JobStatus.FAILED
    assert unplannable.error_code == ErrorCode.PIPELINE_ERROR.value
    for made in (plain, empty_first, unplannable):
        assert shaped.get_job(made.id) == made


def test_failures_retry_after_a_delay_then_fail_the_job_with_the_code(queue: SqlQueue) -> None:
    # Backoffs of 1–2 s, then 2–4 s: the claim made at once surely comes before they end.
    base = 2.0
    queue = SqlQueue(queue.db, queue.planner, QueuePolicy(retry_base_seconds=base))
    job, _ = queue.create_job(noop_job())
    error = TileworkError(ErrorCode.DOWNLOAD_FAILED, "source answered 503")
    for attempt in (1, 2):
        [item] = queue.claim(WORKER, 1, LEASE)
        assert item.task.attempts == attempt
        failed_at = time.time()
        queue.fail(item.task.id, WORKER, error)
        [task] = queue.job_tasks(job.id)
        assert task.status is TaskStatus.QUEUED and task.error_code == "download_failed"
        assert queue.claim(WORKER, 1, LEASE) == []  # the retry waits for its backoff
        # Due after half to all of the attempt's ceiling, counted from the failure.
        ceiling = base * 2 ** (attempt - 1)
        with queue.db.read() as conn:
            due = conn.execute(sa.select(tasks.c.run_after).where(tasks.c.id == task.id)).one()[0]
        assert failed_at + ceiling / 2 <= due <= time.time() + ceiling
        with queue.db.write() as conn:  # due now: the backoff's end, without sleeping it out
            conn.execute(tasks.update().where(tasks.c.id == task.id).values(run_after=time.time()))
    [item] = queue.claim(WORKER, 1, LEASE)
    queue.fail(item.task.id, WORKER, error)
    failed = queue.get_job(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert (failed.error_code, failed.error_message, failed.attempts) == (
        "download_failed",
        "source answered 503",
        3,
    )


def test_permanent_errors_fail_at_once_and_cancel_sibling_tasks(queue: SqlQueue) -> None:
    job, _ = queue.create_job(noop_job(tasks=3))
    first, second, third = queue.claim(WORKER, 3, LEASE)
    queue.fail(first.task.id, WORKER, TileworkError(ErrorCode.CORRUPT_IMAGE, "bad bytes"))
    failed = queue.get_job(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error_code == "corrupt_image"
    # Siblings still running learn of it at their next heartbeat and cannot complete.
    assert not queue.heartbeat([second.task.id], WORKER, LEASE)
    assert not queue.complete(third.task.id, WORKER, {}, {})
    assert {t.status for t in queue.job_tasks(job.id)} == {TaskStatus.FAILED, TaskStatus.CANCELED}


def test_cancel_drops_queued_tasks_and_abandons_running_ones(queue: SqlQueue) -> None:
    job, _ = queue.create_job(noop_job(tasks=2))
    [running] = queue.claim(WORKER, 1, LEASE)
    canceled = queue.cancel_job(job.id)
    assert canceled is not None and canceled.status is JobStatus.CANCELED
    assert canceled.error_code == "canceled"
    assert queue.claim(WORKER, 10, LEASE) == []
    assert not queue.heartbeat([running.task.id], WORKER, LEASE)
    assert not queue.complete(running.task.id, WORKER, {}, {})
    assert queue.cancel_job(job.id) == queue.get_job(job.id)  # cancelling again changes nothing
    assert queue.cancel_job("missing") is None


def test_a_lost_worker_s_task_is_claimed_again_after_its_lease(queue: SqlQueue) -> None:
    job, _ = queue.create_job(noop_job())
    [lost] = queue.claim("dead:1", 1, 0.05)
    assert queue.claim(WORKER, 1, LEASE) == []
    time.sleep(0.1)
    assert queue.recover_expired() == 1
    [again] = queue.claim(WORKER, 1, LEASE)
    assert again.task.id == lost.task.id and again.task.attempts == 2
    assert not queue.complete(lost.task.id, "dead:1", {}, {})  # the old holder is refused
    assert queue.complete(again.task.id, WORKER, {"n": 0}, {})
    assert queue.get_job(job.id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_task_that_keeps_losing_its_worker_fails_with_timeout(queue: SqlQueue) -> None:
    job, _ = queue.create_job(noop_job())
    for _ in range(3):
        queue.claim("dead:1", 1, 0.01)
        time.sleep(0.03)
        queue.recover_expired()
    failed = queue.get_job(job.id)
    assert failed is not None and failed.status is JobStatus.FAILED
    assert failed.error_code == "timeout" and "stopped responding" in (failed.error_message or "")


def test_release_returns_a_task_without_spending_an_attempt(queue: SqlQueue) -> None:
    queue.create_job(noop_job())
    [held] = queue.claim(WORKER, 1, LEASE)
    assert queue.release([held.task.id], WORKER)
    [again] = queue.claim(WORKER, 1, LEASE)
    assert again.task.attempts == 1


def test_heartbeats_extend_the_lease(queue: SqlQueue) -> None:
    queue.create_job(noop_job())
    [held] = queue.claim(WORKER, 1, 1.0)
    # Past the first lease (1.2 s against 1 s), each heartbeat and the sweep well within a
    # lease of the one before (0.2 s against 1 s).
    for _ in range(6):
        time.sleep(0.2)
        assert queue.heartbeat([held.task.id], WORKER, 1.0)
    assert queue.recover_expired() == 0


def test_jobs_list_newest_first_with_filters_and_cursor(queue: SqlQueue) -> None:
    made = [queue.create_job(noop_job())[0].id for _ in range(5)]
    done, _ = queue.create_job(noop_job())
    drain(queue)
    page = queue.list_jobs(limit=2)
    assert [job.id for job in page] == [done.id, made[4]]
    rest = queue.list_jobs(limit=10, before=page[-1].id)
    assert [job.id for job in rest] == list(reversed(made[:4]))
    assert queue.list_jobs(status=JobStatus.QUEUED) == []
    assert len(queue.list_jobs(operation="noop", status=JobStatus.SUCCEEDED)) == 6
    assert queue.list_jobs(operation="resize") == []


def test_queue_position_counts_the_queued_jobs_submitted_earlier(queue: SqlQueue) -> None:
    first, second, third = (queue.create_job(noop_job())[0] for _ in range(3))
    assert [queue.queue_position(job) for job in (first, second, third)] == [0, 1, 2]
    queue.claim(WORKER, 1, LEASE)  # the first starts: it is no longer waiting
    running = queue.get_job(first.id)
    assert running is not None and running.status is JobStatus.RUNNING
    assert [queue.queue_position(job) for job in (running, second, third)] == [0, 0, 1]
    queue.cancel_job(second.id)
    assert queue.queue_position(third) == 0


def test_a_task_written_in_a_newer_format_waits_for_a_host_that_reads_it(
    queue: SqlQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During a rolling upgrade an older host leaves a newer host's tasks queued: not claimed,
    not failed, not counted as work it waits for."""
    from tilework.queue.sql import claims

    newer = TASK_FORMAT + 1
    job, _ = queue.create_job(noop_job(tasks=2))
    with queue.db.write() as conn:
        conn.execute(tasks.update().where(tasks.c.job_id == job.id).values(version=newer))
    assert queue.claim(WORKER, 10, LEASE) == []
    assert not queue.has_work(within_seconds=0)
    assert queue.recover_expired() == 0
    waiting = queue.get_job(job.id)
    assert waiting is not None and waiting.status is JobStatus.QUEUED
    assert {t.status for t in queue.job_tasks(job.id)} == {TaskStatus.QUEUED}
    monkeypatch.setattr(claims, "TASK_FORMAT", newer)  # a host of the newer version
    assert queue.has_work(within_seconds=0)
    assert drain(queue) == 2
    done = queue.get_job(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED


def test_new_tasks_are_written_in_this_hosts_format(queue: SqlQueue) -> None:
    job, _ = queue.create_job(noop_job(tasks=2, stages=2))
    drain(queue)
    with queue.db.read() as conn:
        versions = conn.execute(
            sa.select(tasks.c.version).where(tasks.c.job_id == job.id)
        ).scalars()
        assert sorted(versions) == [TASK_FORMAT] * 4
