"""Request and response bodies of API v1."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tilework.core.jobs import JobStatus
from tilework.core.sources import SourceSpec

MAX_IDEMPOTENCY_KEY = 255


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str = Field(min_length=1, max_length=64)
    input: SourceSpec
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY)


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
    bytes: int
    sha256: str


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


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None


class Upload(BaseModel):
    key: str
    url: str
    bytes: int
    sha256: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    error: ErrorDetail
