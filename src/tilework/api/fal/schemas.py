"""fal's bodies, for the OpenAPI document (the routes answer them as plain JSON)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Submitted(BaseModel):
    request_id: str
    status: Literal["IN_QUEUE"]
    queue_position: int
    status_url: str
    response_url: str
    cancel_url: str
    gateway_request_id: str | None = Field(None, description="With a fal_webhook only.")


class LogLine(BaseModel):
    timestamp: str
    level: str
    source: str
    message: str


class Status(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    request_id: str
    status_url: str
    response_url: str
    cancel_url: str
    queue_position: int | None = Field(None, description="IN_QUEUE only.")
    logs: list[LogLine] | None = Field(None, description="With ?logs=1; not while queued.")
    metrics: dict[str, float] | None = Field(None, description="COMPLETED only.")
    error: str | None = Field(None, description="COMPLETED, when it failed or was canceled.")
    error_type: str | None = Field(None, description="tilework's stable error code.")


class Image(BaseModel):
    url: str
    width: int | None
    height: int | None
    content_type: str
    file_size: int | None


class Result(BaseModel):
    model_config = ConfigDict(extra="allow")

    images: list[Image]
    outputs: list[dict[str, Any]] = Field(description="tilework's outputs, as /v1/jobs has them.")
    warnings: list[str]


class Cancel(BaseModel):
    status: Literal["CANCELLATION_REQUESTED", "ALREADY_COMPLETED", "NOT_FOUND"]


class FalError(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="A sentence, or each invalid field as {loc, msg, type}."
    )
    error_type: str = Field(description="tilework's stable error code.")


class UploadInitiate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content_type: str = Field("application/octet-stream", max_length=255)
    file_name: str = Field("upload", max_length=255)


class UploadTarget(BaseModel):
    upload_url: str = Field(description="PUT the bytes here (no key needed: it is signed).")
    file_url: str = Field(description="The file, to name as image_url once it is uploaded.")


class UploadedFile(BaseModel):
    id: str
    content_type: str
