"""Seed 004's render contract, verbatim: ``POST /render/jobs`` and ``GET /render/jobs/{id}``.

A thin skin over the same jobs as ``/v1`` (operation ``render``): a React app written against
the seed's Python API can point at tilework unchanged. Its bodies are the seed's, not ``/v1``'s:
errors are ``{"error": "<code>"[, "details": {field: message}]}``, statuses are ``processing``,
``completed`` and ``failed``, and a failure carries one of the seed's five error codes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from tilework.api.admission import new_job
from tilework.api.auth import Caller
from tilework.api.errors import QUEUE_FULL_RETRY_AFTER_SECONDS
from tilework.api.state import ApiState, api_state
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord, JobStatus
from tilework.ops.render.operation import SAFE_ID, RenderOptions

router = APIRouter(prefix="/render/jobs", tags=["render (seed 004)"])
State = Annotated[ApiState, Depends(api_state)]

# The codes the seed's clients know; every other failure is reported as the closest of them
# (the /v1 view of the same job keeps the exact code).
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
# Where the /v1 job's fields came from in the seed's request, for naming them in errors.
CONTRACT_FIELDS = {
    "input.url": "image_url",
    "params.texture.url": "texture_url",
    "params.mask.url": "mask_url",
    "params.project_id": "project_id",
    "params.user_id": "user_id",
}


class RenderJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_url: AnyHttpUrl
    texture_url: AnyHttpUrl
    mask_url: AnyHttpUrl | None = None
    project_id: str | None = Field(None, pattern=SAFE_ID)
    user_id: str | None = Field(None, pattern=SAFE_ID)
    options: RenderOptions = Field(default_factory=RenderOptions)


@router.post(
    "",
    status_code=201,
    responses={
        201: {"description": '`{"job_id", "status": "processing", "poll_url"}`'},
        400: {"description": '`{"error": "validation_failed", "details": {field: message}}`'},
        503: {"description": '`{"error": "queue_full"}`'},
    },
)
async def submit_render(request: Request, state: State, key: Caller) -> JSONResponse:
    """Queue a render of ``texture_url`` over ``image_url`` (seed 004's request body)."""
    try:
        body = RenderJobRequest.model_validate(await request.json())
    except ValueError as exc:  # malformed JSON, or a ValidationError (a ValueError too)
        return _invalid(_details(exc) if isinstance(exc, ValidationError) else {"body": "not JSON"})
    if body.project_id is not None and body.user_id is None:
        return _invalid({"user_id": "required with project_id"})
    source, params = _job_of(body)
    try:
        job, _ = await state.submitter.submit(lambda: new_job(state, key, "render", source, params))
    except TileworkError as error:
        if error.code is ErrorCode.QUEUE_FULL:
            headers = {"Retry-After": str(QUEUE_FULL_RETRY_AFTER_SECONDS)}
            return JSONResponse({"error": "queue_full"}, status_code=503, headers=headers)
        if error.code in (ErrorCode.VALIDATION_FAILED, ErrorCode.SSRF_BLOCKED):
            return _invalid(_contract_details(error))
        raise
    body_out = {"job_id": job.id, "status": "processing", "poll_url": f"/render/jobs/{job.id}"}
    return JSONResponse(body_out, status_code=201, headers={"Location": body_out["poll_url"]})


@router.get(
    "/{job_id}",
    responses={
        200: {"description": "`processing`, `completed` with `result_url`, or `failed`"},
        404: {"description": '`{"error": "job_not_found"}`'},
    },
)
def poll_render(job_id: str, state: State, key: Caller) -> JSONResponse:
    job = state.queue.get_job(job_id, key.tenant)
    if job is None or job.operation != "render":
        return JSONResponse({"error": "job_not_found"}, status_code=404)
    return JSONResponse(_status_of(job, state))


def _job_of(body: RenderJobRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    params: dict[str, Any] = {
        "texture": {"url": str(body.texture_url)},
        **body.options.model_dump(mode="json"),
        "project_id": body.project_id,
        "user_id": body.user_id,
    }
    if body.mask_url is not None:
        params["mask"] = {"url": str(body.mask_url)}
    return {"url": str(body.image_url)}, params


def _status_of(job: JobRecord, state: State) -> dict[str, Any]:
    if job.status is JobStatus.SUCCEEDED:
        seconds = state.settings.signed_url_seconds
        url = state.objects_for(job.tenant).url(job.outputs[0]["key"], seconds)
        return {"job_id": job.id, "status": "completed", "result_url": url}
    if not job.status.terminal:
        return {"job_id": job.id, "status": "processing"}
    if job.status is JobStatus.CANCELED:
        code, message = ErrorCode.PIPELINE_ERROR, "the job was canceled"
    else:
        code = _contract_code(ErrorCode(job.error_code or ErrorCode.PIPELINE_ERROR))
        message = job.error_message or ""
    return {
        "job_id": job.id,
        "status": "failed",
        "error_code": code.value,
        "error_message": message,
    }


def _contract_code(exact: ErrorCode) -> ErrorCode:
    if exact in CONTRACT_CODES:
        return exact
    return CLOSEST_CODE.get(exact, ErrorCode.PIPELINE_ERROR)


def _invalid(details: dict[str, str]) -> JSONResponse:
    return JSONResponse({"error": "validation_failed", "details": details}, status_code=400)


def _details(exc: ValidationError) -> dict[str, str]:
    return {
        ".".join(str(part) for part in error["loc"]) or "body": error["msg"]
        for error in exc.errors()
    }


def _contract_details(error: TileworkError) -> dict[str, str]:
    found = error.details.get("errors", [])
    if not found:
        return {"body": error.message}
    named = {}
    for item in found:
        field = str(item.get("field", ""))
        named[CONTRACT_FIELDS.get(field, field.removeprefix("params."))] = str(item.get("message"))
    return named
