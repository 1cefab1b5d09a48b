"""Request and response bodies of API v1."""

from __future__ import annotations

from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, model_validator

from tilework.core.jobs import EventType, JobStatus
from tilework.core.sources import SourceSpec
from tilework.ops.steps.params import MAX_STEPS, Step

MAX_IDEMPOTENCY_KEY = 255


class WebhookSpec(BaseModel):
    """Where to send the job's events, signed as Standard Webhooks."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    events: list[EventType] = Field(
        default_factory=lambda: list(EventType),
        min_length=1,
        description="Which events to send (default: all).",
    )


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str | None = Field(
        None, min_length=1, max_length=64, description="The operation; or give ``steps``."
    )
    input: SourceSpec | None = Field(
        None, description="The input image; only operations that make one (predict) go without."
    )
    params: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] | None = Field(
        None,
        min_length=1,
        max_length=MAX_STEPS,
        description="Several operations as one job, in place of ``operation``: each step's "
        "first output (or the one its ``from`` names) is the next step's input; the job "
        "answers the last step's outputs.",
        examples=[
            [
                {"operation": "upscale", "params": {"scale": 4}},
                {"operation": "resize", "params": {"width": 512, "format": "webp"}},
            ]
        ],
    )
    keep_intermediate: bool = Field(
        False, description="With ``steps``: answer every step's outputs, not only the last's."
    )
    idempotency_key: str | None = Field(None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY)
    webhook: WebhookSpec | None = None

    @model_validator(mode="after")
    def _one_operation_or_steps(self) -> JobCreate:
        if (self.operation is None) == (self.steps is None):
            raise ValueError("give either operation (with its params) or steps")
        if self.steps is not None and self.params:
            raise ValueError("params belong to each step: steps[i].params")
        if self.operation is not None and self.keep_intermediate:
            raise ValueError("keep_intermediate goes with steps")
        return self


class Progress(BaseModel):
    percent: float
    stage: str | None
    stages: list[str]
    done: int
    total: int


class Output(BaseModel):
    name: str
    key: str
    url: str
    width: int | None = None
    height: int | None = None
    format: str | None = None
    content_type: str | None = Field(
        None, description="The file's media type, as its bytes show it (hosted models' files)."
    )
    bytes: int
    sha256: str


class RemoteRequest(BaseModel):
    """Where a job's work runs elsewhere: the provider's own id for it, to find it there."""

    provider: str
    model: str
    request_id: str


class JobError(BaseModel):
    code: str
    message: str


class JobUrls(BaseModel):
    get: str
    cancel: str


class Job(BaseModel):
    id: str
    operation: str
    status: JobStatus
    params: dict[str, Any]
    input: dict[str, Any]
    progress: Progress
    outputs: list[Output]
    warnings: list[str]
    error: JobError | None
    attempts: int
    created_at: str
    started_at: str | None
    completed_at: str | None
    timings: dict[str, float]
    urls: JobUrls
    result: Any = Field(
        None,
        description="A hosted model's answer (predict), its files replaced by this job's "
        "outputs' signed URLs.",
    )
    remote: RemoteRequest | None = Field(
        None, description="The provider's request this job waits on, or waited on last."
    )


class JobEvent(BaseModel):
    """An event as the stream and webhooks carry it: the job as it was at that moment."""

    type: str  # job.started, job.progress, job.succeeded, job.failed, job.canceled
    event_id: int | None
    timestamp: str
    data: Job


class DeliveryAttempt(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_seconds: float
    outcome: str
    next_attempt_at: str | None


class Delivery(BaseModel):
    id: str  # the webhook-id header, the same on every attempt
    event: EventType
    event_id: int
    url: str
    status: str  # pending, sending, delivered, failed, disabled
    attempts: int
    attempts_log: list[DeliveryAttempt]
    next_attempt_at: str | None
    created_at: str
    completed_at: str | None


class DeliveryList(BaseModel):
    items: list[Delivery]


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None


class Upload(BaseModel):
    key: str
    url: str
    bytes: int
    sha256: str
    expires_at: str = Field(
        description="When the upload is deleted, unless a job that names it is still kept; "
        "sending the same bytes again moves it later."
    )


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    error: ErrorDetail


class CounterBody(BaseModel):
    name: str
    labels: dict[str, str]
    value: float


class CounterList(BaseModel):
    items: list[CounterBody]


class AuditEntry(BaseModel):
    at: str
    key_id: str
    tenant: str
    action: str
    target: str
    detail: dict[str, Any]


class AuditList(BaseModel):
    items: list[AuditEntry]


class Purged(BaseModel):
    jobs_canceled: int
    jobs_deleted: int
    files_deleted: int
