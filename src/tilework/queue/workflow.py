"""A job's workflow as decisions: what follows a stage, a failed attempt, a lost worker.

Pure functions of records and the operation's planner. The SQL queue calls them inside its
transactions and writes what they decide, so they can be tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import Finished, JobRecord, NextStage, PlannedTask, Planner, TaskRecord
from tilework.queue.policy import QueuePolicy


@dataclass(frozen=True)
class FailJob:
    """The job ends as failed, with this code."""

    code: ErrorCode
    message: str


@dataclass(frozen=True)
class Planned:
    """What follows a completed stage: ``outcome`` for stage ``stage``.

    Stages planned with no tasks are complete at once; ``empty_through`` is the last of them
    (the job's stage from then on), None when there were none.
    """

    stage: int
    outcome: NextStage | Finished | FailJob
    empty_through: int | None = None


@dataclass(frozen=True)
class Retry:
    """The task runs again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True)
class Substitute:
    """The task is out of attempts; ``task`` runs in its place, with fresh attempts."""

    task: PlannedTask


@dataclass(frozen=True)
class Abandon:
    """The task's job has already ended: the task is settled as failed, nothing follows."""


AfterFailure = Retry | Substitute | FailJob | Abandon


def plan_next(planner: Planner, job: JobRecord, stage: int, previous: list[TaskRecord]) -> Planned:
    """Ask the planner what follows ``previous`` (the tasks of ``stage - 1``), skipping stages
    it plans empty; a planning error fails the job with its code."""
    empty_through: int | None = None
    while True:
        try:
            step = planner.plan(job, stage, previous)
        except TileworkError as error:
            return Planned(stage, FailJob(error.code, error.message), empty_through)
        if isinstance(step, Finished):
            return Planned(stage, step, empty_through)
        if step.tasks:
            return Planned(max(stage, step.stage or stage), step, empty_through)
        empty_through = stage
        job = replace(job, stage=stage, stage_tasks=0, stage_remaining=0)
        stage, previous = stage + 1, []


def after_failure(
    planner: Planner,
    policy: QueuePolicy,
    job: JobRecord,
    task: TaskRecord,
    error: TileworkError,
    *,
    lost: bool = False,
) -> AfterFailure:
    """What follows a failed attempt of ``task``. ``lost``: its worker stopped heartbeating,
    which is always worth another attempt, at once (the lease has already been a delay)."""
    if job.status.terminal:
        return Abandon()
    if (lost or error.retryable) and task.attempts < task.max_attempts:
        return Retry(0.0 if lost else policy.retry_delay(task.attempts))
    try:
        substitute = planner.substitute(job, task, error)
    except TileworkError as planning:
        substitute, error = None, planning
    if substitute is None:
        return FailJob(error.code, error.message)
    return Substitute(substitute)


def lost_worker_error(task: TaskRecord) -> TileworkError:
    return TileworkError(
        ErrorCode.TIMEOUT,
        f"the worker running task {task.index} of stage {task.stage} stopped responding "
        f"({task.attempts} of {task.max_attempts} attempts)",
    )


def add_timings(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    """Seconds per step, summed over the tasks that report them."""
    merged = dict(total)
    for step, seconds in more.items():
        merged[step] = round(merged.get(step, 0.0) + seconds, 4)
    return merged
