"""Jobs, tasks and the planning contract between the queue and the operations.

A job is what a user submits and sees. It runs as a sequence of stages; each stage is a set of
tasks that workers claim independently. When the last task of a stage completes, the job's
``Planner`` decides the next stage's tasks, or that the job is finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from tilework.core.keys import DEFAULT_TENANT

if TYPE_CHECKING:
    from tilework.core.errors import TileworkError

JsonDict = dict[str, Any]

# The format of task payloads this version writes and reads. Raise it when a payload changes
# in a way an older host would misread; hosts claim only tasks of a format up to their own.
TASK_FORMAT = 1


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class EventType(StrEnum):
    """What a job's event log records; webhooks subscribe to these by name."""

    STARTED = "started"
    PROGRESS = "progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @classmethod
    def ending(cls, status: JobStatus) -> EventType:
        return cls(status.value)


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True)
class PlannedTask:
    """A task to create: its kind (operation-defined), a JSON payload and, optionally, its own
    time limit (shorter than the workers' ``task_timeout``), past which it fails for good."""

    kind: str
    payload: JsonDict = field(default_factory=dict)
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class NextStage:
    tasks: list[PlannedTask]
    # The stage these tasks make, when not the one asked for: a planner may skip ahead (a
    # job of steps starts each step at the stage its names begin at), never back.
    stage: int | None = None


@dataclass(frozen=True)
class Finished:
    outputs: list[JsonDict]
    warnings: list[str] = field(default_factory=list)
    # What the job answers beyond its files (a hosted model's JSON, say); a string
    # "tilework:outputs/N" in it (output_reference) stands for the URL of output N, signed
    # when the job is read.
    result: JsonDict | None = None
    # What a success is charged when it is not its outputs' megapixels (a hosted model's use),
    # and what the ledger says of it: provider, model, units.
    cost: float | None = None
    cost_detail: JsonDict | None = None


@dataclass(frozen=True)
class JobRecord:
    id: str
    operation: str
    status: JobStatus
    params: JsonDict
    input: JsonDict
    stages: list[str]
    stage: int
    stage_tasks: int
    stage_remaining: int
    tasks_done: int
    attempts: int
    outputs: list[JsonDict]
    warnings: list[str]
    timings: dict[str, float]
    error_code: str | None
    error_message: str | None
    idempotency_key: str | None
    created_at: float
    started_at: float | None
    completed_at: float | None
    webhook: JsonDict | None = None
    progress_at: float | None = None  # when its last progress event was recorded
    tenant: str = DEFAULT_TENANT
    key_id: str | None = None  # the API key that submitted it
    deadline: float | None = None  # when it is canceled if still open (Cancel-After)
    result: JsonDict | None = None  # Finished.result
    remote: JsonDict | None = None  # the request elsewhere a task of it waits on (TaskDeferred)
    delivery: JsonDict | None = None  # {"destination", "vars"}: where its outputs are delivered
    priority: int = 0  # orders its tenant's own work: higher first
    run_at: float | None = None  # not claimed before (unix seconds)
    retry_of: str | None = None  # the failed or canceled job this one retries
    retried_by: str | None = None  # the job that retries this one
    reuses: tuple[str, ...] = ()  # jobs whose folders its tasks read from, nearest first
    cached_from: str | None = None  # the job whose outputs it shares (a cache hit)
    cache_key: str | None = None
    traceparent: str | None = None  # the W3C trace context its submit carried


@dataclass(frozen=True)
class TaskRecord:
    id: int
    job_id: str
    stage: int
    index: int
    kind: str
    payload: JsonDict
    status: TaskStatus
    attempts: int
    max_attempts: int
    result: JsonDict | None
    error_code: str | None
    error_message: str | None
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class ClaimedTask:
    """A task a worker holds, with what it needs of its job to run it."""

    task: TaskRecord
    operation: str
    params: JsonDict
    input: JsonDict
    tenant: str = DEFAULT_TENANT
    reuses: tuple[str, ...] = ()  # JobRecord.reuses
    traceparent: str | None = None  # JobRecord.traceparent


@dataclass(frozen=True)
class NewJob:
    operation: str
    params: JsonDict
    input: JsonDict
    stages: list[str]
    idempotency_key: str | None = None  # unique within the tenant
    request_hash: str | None = None
    webhook: JsonDict | None = None  # {"url", "events", "format"}
    tenant: str = DEFAULT_TENANT
    key_id: str | None = None
    max_open_jobs: int | None = None  # the key's limit on its jobs waiting or running
    cost: float = 0.0  # credits to reserve from the key; 0 when it does not count credits
    cancel_after: float | None = None  # seconds from its creation to its deadline; None: none
    delivery: JsonDict | None = None  # {"destination", "vars"}: where its outputs are delivered
    priority: int = 0  # orders its tenant's own work: higher first
    run_at: float | None = None  # not claimed before (unix seconds)
    deadline: float | None = None  # unix seconds; canceled (timeout) if open then
    cache_key: str | None = None  # what makes its outputs equal another's; None: uncached
    use_cache: bool = False  # answer from an equal job's outputs if one is retained
    traceparent: str | None = None  # the W3C trace context of its submit


class TaskDeferred(Exception):  # noqa: N818 (not an error: a task asking to run again later)
    """Raised by a task's run to end this run without an outcome and run again later.

    For work that happens elsewhere (a remote provider's prediction): ``state`` is kept on the
    task as ``payload["deferred"]`` for the next run, which comes after ``seconds`` or as soon
    as the task is woken. The attempt is not spent.
    """

    def __init__(self, state: JsonDict, seconds: float) -> None:
        super().__init__(f"deferred for {seconds:g} s")
        self.state = state
        self.seconds = seconds


OUTPUT_REFERENCE = "tilework:outputs/"  # + N: output N of the job, in Finished.result


def output_reference(index: int) -> str:
    return f"{OUTPUT_REFERENCE}{index}"


def output_reference_index(value: str) -> int | None:
    """N, for a ``tilework:outputs/N`` string; None for any other."""
    if value.startswith(OUTPUT_REFERENCE) and value[len(OUTPUT_REFERENCE) :].isdigit():
        return int(value[len(OUTPUT_REFERENCE) :])
    return None


def with_output_urls(value: Any, urls: list[str]) -> Any:
    """``value`` with each ``tilework:outputs/N`` reference (``Finished.result``)
    replaced by output N's signed URL, freshly signed at every read."""
    if isinstance(value, str):
        index = output_reference_index(value)
        return urls[index] if index is not None and index < len(urls) else value
    if isinstance(value, list):
        return [with_output_urls(item, urls) for item in value]
    if isinstance(value, dict):
        return {name: with_output_urls(item, urls) for name, item in value.items()}
    return value


# A deferred state's key whose value the job shows as its ``remote`` (provider, request id):
# what a caller needs to find the request on the provider's side.
REMOTE_STATE_KEY = "remote"


class Planner(Protocol):
    """Decides a job's tasks stage by stage; called inside the queue's transactions, so it must be
    quick and do no I/O."""

    def plan(
        self, job: JobRecord, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished: ...

    def substitute(
        self, job: JobRecord, task: TaskRecord, error: TileworkError
    ) -> PlannedTask | None:
        """What runs instead of a task that is out of attempts; None fails the job."""
        ...

    def answered(self, job: JobRecord, finished: Finished) -> NextStage | Finished:
        """What follows outputs the job did not make itself (a cache hit's): the job's end,
        or what it still does with them (a delivery)."""
        ...


@dataclass(frozen=True)
class Progress:
    percent: float
    stage: str | None
    stages: list[str]
    done: int
    total: int


def job_progress(job: JobRecord) -> Progress:
    """Progress across stages: each stage is an equal share, filled by its finished tasks."""
    stages = job.stages
    if job.status is JobStatus.SUCCEEDED:
        return Progress(
            100.0, stages[-1] if stages else None, stages, job.stage_tasks, job.stage_tasks
        )
    done = job.stage_tasks - job.stage_remaining
    fraction = done / job.stage_tasks if job.stage_tasks else 0.0
    percent = 100.0 * (job.stage + fraction) / max(len(stages), 1)
    current = stages[job.stage] if job.stage < len(stages) else None
    return Progress(round(min(percent, 99.9), 1), current, stages, done, job.stage_tasks)
