"""A job's workflow decided without a database: what follows a stage, a failed attempt and a
lost worker (``tilework.queue.workflow``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import (
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
from tilework.queue.sql.rows import job_values
from tilework.queue.workflow import (
    Abandon,
    FailJob,
    Retry,
    Substitute,
    add_timings,
    after_failure,
    lost_worker_error,
    plan_next,
)
from tilework.store.records import job_from_mapping

POLICY = QueuePolicy(retry_base_seconds=2.0, retry_max_seconds=60.0)
BROKEN = TileworkError(ErrorCode.CORRUPT_IMAGE, "not an image")
BUSY = TileworkError(ErrorCode.UNAVAILABLE, "try again")


class Script:
    """A planner whose stages are given: a list of task counts, then Finished."""

    def __init__(self, counts: list[int], substitute: PlannedTask | None = None) -> None:
        self.counts = counts
        self.substitute_task = substitute
        self.asked: list[tuple[int, int, int]] = []  # (stage, job.stage, len(previous))

    def plan(self, job: JobRecord, stage: int, previous: list[TaskRecord]) -> NextStage | Finished:
        self.asked.append((stage, job.stage, len(previous)))
        if stage >= len(self.counts):
            return Finished([{"stages": stage}])
        if self.counts[stage] < 0:
            raise TileworkError(ErrorCode.VALIDATION_FAILED, f"stage {stage} cannot be planned")
        return NextStage([PlannedTask("t", {"n": n}) for n in range(self.counts[stage])])

    def substitute(
        self, job: JobRecord, task: TaskRecord, error: TileworkError
    ) -> PlannedTask | None:
        return self.substitute_task


def job(status: JobStatus = JobStatus.RUNNING) -> JobRecord:
    new = NewJob("scripted", {}, {}, ["a", "b", "c"])
    return replace(job_from_mapping(job_values(new, 0.0)), status=status)


def task(attempts: int = 1, max_attempts: int = 3) -> TaskRecord:
    return TaskRecord(
        7, "j", 0, 2, "t", {}, TaskStatus.RUNNING, attempts, max_attempts, None, None, None
    )


def test_the_next_stage_is_what_the_planner_plans() -> None:
    planner = Script([2, 3])
    planned = plan_next(planner, job(), 1, [task(), task()])
    assert planned.stage == 1 and planned.empty_through is None
    assert isinstance(planned.outcome, NextStage) and len(planned.outcome.tasks) == 3
    assert planner.asked == [(1, 0, 2)]


def test_stages_planned_empty_are_skipped_and_the_job_moves_past_them() -> None:
    planner = Script([1, 0, 0, 4])
    planned = plan_next(planner, job(), 1, [task()])
    assert (planned.stage, planned.empty_through) == (3, 2)
    assert isinstance(planned.outcome, NextStage) and len(planned.outcome.tasks) == 4
    # Each later stage is planned with the job at the empty stage before it, and nothing prior.
    assert planner.asked == [(1, 0, 1), (2, 1, 0), (3, 2, 0)]


def test_after_the_last_stage_the_job_finishes_even_past_empty_stages() -> None:
    planned = plan_next(Script([1, 0]), job(), 1, [task()])
    assert planned.empty_through == 1
    assert planned.outcome == Finished([{"stages": 2}])


def test_a_stage_that_cannot_be_planned_fails_the_job_with_its_code() -> None:
    planned = plan_next(Script([1, -1]), job(), 1, [task()])
    assert planned.outcome == FailJob(ErrorCode.VALIDATION_FAILED, "stage 1 cannot be planned")


def test_a_retryable_error_retries_with_backoff_while_attempts_last() -> None:
    decision = after_failure(Script([1]), POLICY, job(), task(attempts=2), BUSY)
    assert isinstance(decision, Retry)
    assert 2.0 <= decision.delay <= 4.0  # the second attempt's ceiling is 2 × 2 s, halved at least


def test_a_permanent_error_fails_the_job_at_once() -> None:
    decision = after_failure(Script([1]), POLICY, job(), task(attempts=1), BROKEN)
    assert decision == FailJob(ErrorCode.CORRUPT_IMAGE, "not an image")


def test_out_of_attempts_the_operations_substitute_runs_instead() -> None:
    fallback = PlannedTask("fallback", {"cheap": True})
    decision = after_failure(Script([1], fallback), POLICY, job(), task(attempts=3), BUSY)
    assert decision == Substitute(fallback)


def test_a_substitute_that_cannot_be_planned_fails_the_job_with_the_planners_code() -> None:
    class Refusing(Script):
        def substitute(
            self, job: JobRecord, task: TaskRecord, error: TileworkError
        ) -> PlannedTask | None:
            raise TileworkError(ErrorCode.VALIDATION_FAILED, "no fallback for this input")

    decision = after_failure(Refusing([1]), POLICY, job(), task(attempts=3), BUSY)
    assert decision == FailJob(ErrorCode.VALIDATION_FAILED, "no fallback for this input")


@pytest.mark.parametrize("status", [JobStatus.CANCELED, JobStatus.FAILED, JobStatus.SUCCEEDED])
def test_a_task_of_an_ended_job_is_abandoned_whatever_the_error(status: JobStatus) -> None:
    fallback = PlannedTask("fallback")
    for error in (BUSY, BROKEN):
        decision = after_failure(Script([1], fallback), POLICY, job(status), task(), error)
        assert decision == Abandon()


def test_a_lost_worker_is_retried_at_once_even_for_a_permanent_error_kind() -> None:
    lost = task(attempts=1)
    decision = after_failure(Script([1]), POLICY, job(), lost, lost_worker_error(lost), lost=True)
    assert decision == Retry(0.0)
    out = task(attempts=3)
    assert after_failure(
        Script([1]), POLICY, job(), out, lost_worker_error(out), lost=True
    ) == FailJob(
        ErrorCode.TIMEOUT,
        "the worker running task 2 of stage 0 stopped responding (3 of 3 attempts)",
    )


def test_timings_add_up_per_step() -> None:
    total = add_timings({"decode": 0.5}, {"decode": 0.25, "encode": 1.0})
    assert add_timings(total, {"encode": 0.00001}) == {"decode": 0.75, "encode": 1.0}
