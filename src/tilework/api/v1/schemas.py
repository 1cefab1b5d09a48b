"""Request and response bodies of API v1."""

from __future__ import annotations

from typing import Any

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from tilework.core.destinations import DEFAULT_TEMPLATE, with_values
from tilework.core.jobs import EventType, JobStatus
from tilework.core.sources import SourceSpec
from tilework.ops.steps.params import MAX_STEPS, Step

MAX_IDEMPOTENCY_KEY = 255
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class WebhookSpec(BaseModel):
    """Where to send the job's events, signed as Standard Webhooks."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    events: list[EventType] = Field(
        default_factory=lambda: list(EventType),
        min_length=1,
        description="Which events to send (default: all).",
    )


class DestinationRef(BaseModel):
    """Deliver the job's outputs to one of the tenant's destinations (``/v1/destinations``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    vars: dict[str, str] = Field(
        default_factory=dict,
        description="Values for the destination's path template (``{user_id}``, ...), each "
        "letters, digits, '.', '_' and '-'. The job's own fields and its plain params fill the "
        "rest.",
    )

    @field_validator("vars")
    @classmethod
    def _plain_values(cls, given: dict[str, str]) -> dict[str, str]:
        return with_values(given)

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


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
    priority: int = Field(
        0, ge=-10, le=10, description="Orders the tenant's own work: higher first (-10 to 10)."
    )
    run_at: AwareDatetime | None = Field(
        None, description="Not started before this time (ISO 8601 with its offset)."
    )
    deadline: AwareDatetime | None = Field(
        None,
        description="Canceled with code ``timeout`` if not finished by this time (ISO 8601 "
        "with its offset).",
    )
    destination: DestinationRef | None = Field(
        None,
        description="Deliver the outputs to this destination of the tenant's (a name, or "
        "``{name, vars}``); delivered outputs are the tenant's and never swept.",
    )
    cache: bool | None = Field(
        None,
        description="false: run it even if an equal job's outputs are retained; true: answer "
        "from them where the operation leaves it to the job (predict). Unset: the "
        "operation's own choice (deterministic ones are answered from the cache).",
    )

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


class Delivered(BaseModel):
    """Where an output was delivered: the destination and the key in its bucket."""

    destination: str
    key: str
    url: str | None = Field(None, description="Its public URL, for a public destination.")


class Output(BaseModel):
    name: str
    key: str
    url: str = Field(description="Where to read it: its destination's URL when delivered.")
    delivered: Delivered | None = None
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
    priority: int = Field(0, description="Orders its tenant's own work: higher first.")
    run_at: str | None = Field(None, description="Not started before this time.")
    deadline: str | None = Field(
        None, description="Canceled (code ``timeout``) if not finished by this time."
    )
    retry_of: str | None = Field(None, description="The failed or canceled job this retries.")
    retried_by: str | None = Field(None, description="The job that retries this one.")
    cached_from: str | None = Field(
        None,
        description="Answered from the cache: the job whose outputs it shares (it ran nothing "
        "and cost nothing).",
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


class WorkerHostBody(BaseModel):
    id: str = Field(description="host:pid, the prefix of its workers' lease holders.")
    host: str
    pid: int
    version: str
    device: str
    workers: int = Field(description="Its worker threads, each with a task process.")
    state: str = Field(description="alive, or gone: stopped, or no heartbeat within its lease.")
    started_at: str
    heartbeat_at: str
    stopped_at: str | None
    tasks_running: int


class WorkerList(BaseModel):
    items: list[WorkerHostBody]


class TenantQueueBody(BaseModel):
    tenant: str
    queued: int = Field(description="Tasks waiting: due, retrying later or scheduled.")
    running: int
    oldest_queued_at: str | None
    oldest_wait_seconds: float | None = Field(
        None, description="How long its oldest waiting task has waited."
    )


class QueueView(BaseModel):
    tenants: list[TenantQueueBody]


class DestinationIn(BaseModel):
    """A bucket of the tenant's own (S3, R2, MinIO, Supabase Storage) that jobs deliver to."""

    model_config = ConfigDict(extra="forbid")

    bucket: str = Field(min_length=3, max_length=255, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    prefix: str = Field("", max_length=512, description="Every delivered key goes under it.")
    endpoint: AnyHttpUrl | None = Field(None, description="The S3 API's URL; AWS when none.")
    region: str | None = Field(None, max_length=64)
    access_key_id: str | None = Field(None, min_length=1, max_length=256)
    secret_access_key: str | None = Field(None, min_length=1, max_length=256)
    session_token: str | None = Field(None, max_length=4096)
    public: bool = Field(
        False,
        description="Delivered objects are read by anyone (the job lists plain URLs); else the "
        "job lists URLs signed with these credentials.",
    )
    public_url: AnyHttpUrl | None = Field(
        None, description="Where a public destination's objects are read (a CDN, say)."
    )
    path_template: str = Field(
        DEFAULT_TEMPLATE,
        min_length=1,
        max_length=512,
        description="Each output's key: {job_id}, {tenant}, {operation}, {date}, {index}, "
        "{name}, {ext}, the job's plain params ({user_id}) and its destination vars.",
        examples=["renders/{user_id}/{project_id}-{job_id}.{ext}"],
    )
    render_projects: list[str] = Field(
        default_factory=list,
        description="The render contract's projects whose results go here (``*``: every one).",
    )

    @model_validator(mode="after")
    def _both_keys(self) -> DestinationIn:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give access_key_id and secret_access_key together")
        return self


class DestinationOut(BaseModel):
    name: str
    tenant: str
    bucket: str
    prefix: str
    endpoint: str | None
    region: str | None
    public: bool
    public_url: str | None
    path_template: str
    render_projects: list[str]
    credentials: str = Field(description="``set`` or ``none``: they are never shown.")


class DestinationList(BaseModel):
    items: list[DestinationOut]
