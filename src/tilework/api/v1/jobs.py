"""/v1/jobs: submit, read, list, cancel, retry, delete."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response

from tilework.api.dependencies import AppServices, Caller
from tilework.api.prefer import preferred_wait
from tilework.api.v1 import schemas
from tilework.api.v1.bodies import job_body
from tilework.core.errors import ErrorCode, TileworkError, field_failures
from tilework.core.jobs import JobRecord, JobStatus
from tilework.core.tracing import valid_traceparent
from tilework.ops.steps import Steps
from tilework.service import cancels, removals, retries
from tilework.service.services import Services
from tilework.service.submit import JobRequest, submit
from tilework.service.waits import finished_within

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
MAX_PAGE = 200


@router.post(
    "",
    status_code=201,
    response_model=schemas.Job,
    responses={
        200: {"model": schemas.Job, "description": "Finished within ``Prefer: wait=N``."},
        400: {"model": schemas.ErrorBody, "description": "A URL it names is refused."},
        409: {"model": schemas.ErrorBody},
        422: {"model": schemas.ErrorBody},
        503: {"model": schemas.ErrorBody},
    },
)
async def create_job(
    body: schemas.JobCreate,
    response: Response,
    services: AppServices,
    key: Caller,
    idempotency_header: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=255)
    ] = None,
    prefer: Annotated[
        str | None,
        Header(
            description="``wait=N`` (1–60 s; bare ``wait`` is 60): answer 200 with the "
            "finished job if it ends within N seconds, else 201 as usual."
        ),
    ] = None,
    traceparent: Annotated[
        str | None,
        Header(
            description="W3C trace context: logged with every line of the job's tasks and "
            "sent on with their provider calls."
        ),
    ] = None,
) -> schemas.Job:
    """Queue a job. Validation happens here; the work happens on the workers."""
    wait = preferred_wait(prefer)
    idempotency_key = body.idempotency_key or idempotency_header
    if traceparent is not None and not valid_traceparent(traceparent):
        raise field_failures(
            [(("traceparent",), "not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)")]
        )
    request = replace(_job_request(body, idempotency_key), traceparent=traceparent)
    job, created = await submit(services, key, request)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        job = await finished_within(services.queue, job, wait)
        if job.status.terminal:
            response.status_code = 200
    return _body(services, job)


@router.get("/{job_id}", response_model=schemas.Job, responses={404: {"model": schemas.ErrorBody}})
def get_job(job_id: str, services: AppServices, key: Caller) -> schemas.Job:
    return _body(services, _found(services.queue.get_job(job_id, key.tenant), job_id))


@router.get("", response_model=schemas.JobPage)
def list_jobs(
    services: AppServices,
    key: Caller,
    status: JobStatus | None = None,
    operation: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> schemas.JobPage:
    """Newest first. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    found = services.queue.list_jobs(
        tenant=key.tenant, status=status, operation=operation, limit=limit, before=cursor
    )
    next_cursor = found[-1].id if len(found) == limit else None
    return schemas.JobPage(items=[_body(services, job) for job in found], next_cursor=next_cursor)


@router.delete(
    "/{job_id}",
    status_code=204,
    responses={404: {"model": schemas.ErrorBody}, 409: {"model": schemas.ErrorBody}},
)
def delete_job(job_id: str, services: AppServices, key: Caller) -> Response:
    """Delete an ended job now: its rows, events, deliveries and files (outputs delivered to a
    destination of yours stay). A queued or running job is 409 ``job_not_finished``: cancel
    it first. Retention (``TILEWORK_RETENTION_SECONDS``) does the same to every ended job."""
    removals.delete_job(services, key, job_id)
    return Response(status_code=204)


@router.post(
    "/{job_id}/cancel", response_model=schemas.Job, responses={404: {"model": schemas.ErrorBody}}
)
def cancel_job(job_id: str, services: AppServices, key: Caller) -> schemas.Job:
    """Cancel a job; a job that already ended is returned as it is."""
    return _body(services, _found(cancels.cancel_job(services, job_id, key.tenant), job_id))


@router.post(
    "/{job_id}/retry",
    status_code=201,
    response_model=schemas.Job,
    responses={
        200: {"model": schemas.Job, "description": "Retried already: the retry it has."},
        402: {"model": schemas.ErrorBody},
        404: {"model": schemas.ErrorBody},
        409: {"model": schemas.ErrorBody, "description": "``job_not_retryable``."},
    },
)
def retry_job(job_id: str, response: Response, services: AppServices, key: Caller) -> schemas.Job:
    """Retry a failed or canceled job as a new job (``retry_of``; the old one, whose end stays
    final, says ``retried_by``). It starts at the stage the old one stopped in: the tasks that
    succeeded are not run again and their files are reused. Asking again answers 200 with
    the same retry."""
    job, created = retries.retry(services, key, job_id)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.status_code = 200
    return _body(services, job)


def _job_request(body: schemas.JobCreate, idempotency_key: str | None) -> JobRequest:
    source = {} if body.input is None else body.input.model_dump(mode="json", exclude_none=True)
    webhook = None
    if body.webhook is not None:
        events = sorted({event.value for event in body.webhook.events})
        webhook = {"url": str(body.webhook.url), "events": events, "format": "tilework"}
    if body.deadline is not None:
        if body.deadline.timestamp() <= time.time():
            raise field_failures([(("deadline",), "already past")])
        if body.run_at is not None and body.deadline <= body.run_at:
            raise field_failures([(("deadline",), "comes before run_at")])
    scheduling: dict[str, Any] = {
        "destination": None
        if body.destination is None
        else body.destination.model_dump(mode="json"),
        "priority": body.priority,
        "run_at": None if body.run_at is None else body.run_at.timestamp(),
        "deadline": None if body.deadline is None else body.deadline.timestamp(),
        "cache": body.cache,
    }
    if body.steps is not None:
        steps = [step.model_dump(mode="json") for step in body.steps]
        params = {"steps": steps, "keep_intermediate": body.keep_intermediate}
        return JobRequest(Steps.name, source, params, idempotency_key, webhook, **scheduling)
    operation = str(body.operation)  # the schema gives one or the other
    return JobRequest(operation, source, body.params, idempotency_key, webhook, **scheduling)


def _found(job: JobRecord | None, job_id: str) -> JobRecord:
    if job is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    return job


def _body(services: Services, job: JobRecord) -> schemas.Job:
    return job_body(services.settings, services.links, job)
