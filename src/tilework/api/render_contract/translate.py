"""The render contract's bodies as tilework's jobs, and jobs and errors back as its bodies."""

from __future__ import annotations

import time
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord, JobStatus
from tilework.ops.render.params import SAFE_ID, RenderOptions
from tilework.service.services import Services
from tilework.service.submit import JobRequest

# The codes the contract's clients know; every other failure is reported as the closest of
# them (the /v1 view of the same job keeps the exact code).
CONTRACT_CODES = {
    ErrorCode.DOWNLOAD_FAILED,
    ErrorCode.PIPELINE_ERROR,
    ErrorCode.UPLOAD_FAILED,
    ErrorCode.VALIDATION_FAILED,
    ErrorCode.TIMEOUT,
}
CLOSEST_CODE = {
    ErrorCode.SSRF_BLOCKED: ErrorCode.DOWNLOAD_FAILED,
    ErrorCode.UNSUPPORTED_FORMAT: ErrorCode.VALIDATION_FAILED,
    ErrorCode.IMAGE_TOO_LARGE: ErrorCode.VALIDATION_FAILED,
    ErrorCode.CORRUPT_IMAGE: ErrorCode.VALIDATION_FAILED,
}
# Where the /v1 job's fields came from in the contract's request, for naming them in errors.
CONTRACT_FIELDS = {
    "input.url": "image_url",
    "params.texture.url": "texture_url",
    "params.mask.url": "mask_url",
    "params.project_id": "project_id",
    "params.user_id": "user_id",
    "deadline": "timeout_seconds",
}
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0


class RenderJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_url: AnyHttpUrl
    texture_url: AnyHttpUrl
    mask_url: AnyHttpUrl | None = None
    project_id: str | None = Field(None, pattern=SAFE_ID)
    user_id: str | None = Field(None, pattern=SAFE_ID)
    options: RenderOptions = Field(default_factory=RenderOptions)
    # The contract's poll timeout, kept by the server: a render not finished this many seconds
    # after its submit is failed with ``timeout`` (the job's ``deadline``), so a client that
    # stops polling then reads the same end the server recorded.
    timeout_seconds: float | None = Field(None, gt=0, le=MAX_TIMEOUT_SECONDS)


def job_request(body: RenderJobRequest) -> JobRequest:
    params: dict[str, Any] = {
        "texture": {"url": str(body.texture_url)},
        **body.options.model_dump(mode="json"),
        "project_id": body.project_id,
        "user_id": body.user_id,
    }
    if body.mask_url is not None:
        params["mask"] = {"url": str(body.mask_url)}
    deadline = None if body.timeout_seconds is None else time.time() + body.timeout_seconds
    return JobRequest(
        "render", {"url": str(body.image_url)}, params, project=body.project_id, deadline=deadline
    )


def status_of(job: JobRecord, services: Services) -> dict[str, Any]:
    if job.status is JobStatus.SUCCEEDED:
        # The project's destination's URL when it has one: what the app keeps in its row.
        url = services.links.url(job.tenant, job.outputs[0])
        return {"job_id": job.id, "status": "completed", "result_url": url}
    if not job.status.terminal:
        return {"job_id": job.id, "status": "processing"}
    if job.status is JobStatus.CANCELED and job.error_code != ErrorCode.TIMEOUT:
        code, message = ErrorCode.PIPELINE_ERROR, "the job was canceled"
    else:
        code = contract_code(ErrorCode(job.error_code or ErrorCode.PIPELINE_ERROR))
        message = job.error_message or ""
    return {
        "job_id": job.id,
        "status": "failed",
        "error_code": code.value,
        "error_message": message,
    }


def contract_code(exact: ErrorCode) -> ErrorCode:
    if exact in CONTRACT_CODES:
        return exact
    return CLOSEST_CODE.get(exact, ErrorCode.PIPELINE_ERROR)


def request_details(exc: ValidationError) -> dict[str, str]:
    """The request body's validation errors, field by field."""
    return {
        ".".join(str(part) for part in error["loc"]) or "body": error["msg"]
        for error in exc.errors()
    }


def contract_details(error: TileworkError) -> dict[str, str]:
    """A refused job's errors, named as the contract's request names its fields."""
    found = error.details.get("errors", [])
    if not found:
        return {"body": error.message}
    named = {}
    for item in found:
        field = str(item.get("field", ""))
        named[CONTRACT_FIELDS.get(field, field.removeprefix("params."))] = str(item.get("message"))
    return named
