"""The render contract's two endpoints: submit a render, poll it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from tilework.api.dependencies import AppServices, Caller
from tilework.api.errors import QUEUE_FULL_RETRY_AFTER_SECONDS
from tilework.api.render_contract import schemas
from tilework.api.render_contract.translate import (
    RenderJobRequest,
    contract_details,
    job_request,
    request_details,
    status_of,
)
from tilework.core.errors import ErrorCode, TileworkError
from tilework.service.submit import submit

router = APIRouter(prefix="/render/jobs", tags=["render contract"])


@router.post(
    "",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RenderJobRequest"}}
            },
        }
    },
    responses={
        201: {"model": schemas.RenderSubmitted},
        400: {"model": schemas.RenderError, "description": "validation_failed, each field"},
        503: {"model": schemas.RenderError, "description": "queue_full"},
    },
)
async def submit_render(request: Request, services: AppServices, key: Caller) -> JSONResponse:
    """Queue a render of ``texture_url`` over ``image_url`` (the render contract's request body)."""
    try:
        body = RenderJobRequest.model_validate(await request.json())
    except ValueError as exc:  # malformed JSON, or a ValidationError (a ValueError too)
        details = request_details(exc) if isinstance(exc, ValidationError) else {"body": "not JSON"}
        return _invalid(details)
    if body.project_id is not None and body.user_id is None:
        return _invalid({"user_id": "required with project_id"})
    try:
        job, _ = await submit(services, key, job_request(body))
    except TileworkError as error:
        if error.code is ErrorCode.QUEUE_FULL:
            headers = {"Retry-After": str(QUEUE_FULL_RETRY_AFTER_SECONDS)}
            return JSONResponse({"error": "queue_full"}, status_code=503, headers=headers)
        if error.code in (ErrorCode.VALIDATION_FAILED, ErrorCode.SSRF_BLOCKED):
            return _invalid(contract_details(error))
        raise
    body_out = {"job_id": job.id, "status": "processing", "poll_url": f"/render/jobs/{job.id}"}
    return JSONResponse(body_out, status_code=201, headers={"Location": body_out["poll_url"]})


@router.get(
    "/{job_id}",
    responses={
        200: {"model": schemas.RenderStatus},
        404: {"model": schemas.RenderError, "description": "job_not_found"},
    },
)
def poll_render(job_id: str, services: AppServices, key: Caller) -> JSONResponse:
    job = services.queue.get_job(job_id, key.tenant)
    if job is None or job.operation != "render":
        return JSONResponse({"error": "job_not_found"}, status_code=404)
    return JSONResponse(status_of(job, services))


def _invalid(details: dict[str, str]) -> JSONResponse:
    return JSONResponse({"error": "validation_failed", "details": details}, status_code=400)
