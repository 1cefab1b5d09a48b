"""/v1/jobs: submit, read, list, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response

from tilework.api import schemas
from tilework.api.admission import new_job
from tilework.api.auth import Caller
from tilework.api.bodies import job_body
from tilework.api.state import ApiState, api_state
from tilework.api.waiting import finished_within, preferred_wait
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord, JobStatus, NewJob
from tilework.core.keys import ApiKey

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
State = Annotated[ApiState, Depends(api_state)]
MAX_PAGE = 200


@router.post(
    "",
    status_code=201,
    response_model=schemas.Job,
    responses={
        200: {"model": schemas.Job, "description": "Finished within ``Prefer: wait=N``."},
        409: {"model": schemas.ErrorBody},
        422: {"model": schemas.ErrorBody},
        503: {"model": schemas.ErrorBody},
    },
)
async def create_job(
    body: schemas.JobCreate,
    response: Response,
    state: State,
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
) -> schemas.Job:
    """Queue a job. Validation happens here; the work happens on the workers."""
    wait = preferred_wait(prefer)
    idempotency_key = body.idempotency_key or idempotency_header
    job, created = await state.submitter.submit(lambda: _new_job(state, key, body, idempotency_key))
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        job = await finished_within(state.queue, job, wait)
        if job.status.terminal:
            response.status_code = 200
    return _body(state, job)


@router.get("/{job_id}", response_model=schemas.Job, responses={404: {"model": schemas.ErrorBody}})
def get_job(job_id: str, state: State, key: Caller) -> schemas.Job:
    return _body(state, _found(state.queue.get_job(job_id, key.tenant), job_id))


@router.get("", response_model=schemas.JobPage)
def list_jobs(
    state: State,
    key: Caller,
    status: JobStatus | None = None,
    operation: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> schemas.JobPage:
    """Newest first. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    found = state.queue.list_jobs(
        tenant=key.tenant, status=status, operation=operation, limit=limit, before=cursor
    )
    next_cursor = found[-1].id if len(found) == limit else None
    return schemas.JobPage(items=[_body(state, job) for job in found], next_cursor=next_cursor)


@router.post(
    "/{job_id}/cancel", response_model=schemas.Job, responses={404: {"model": schemas.ErrorBody}}
)
def cancel_job(job_id: str, state: State, key: Caller) -> schemas.Job:
    """Cancel a job; a job that already ended is returned as it is."""
    return _body(state, _found(state.queue.cancel_job(job_id, key.tenant), job_id))


def _new_job(
    state: ApiState, key: ApiKey, body: schemas.JobCreate, idempotency_key: str | None
) -> NewJob:
    source = body.input.model_dump(mode="json", exclude_none=True)
    webhook = None
    if body.webhook is not None:
        events = sorted({event.value for event in body.webhook.events})
        webhook = {"url": str(body.webhook.url), "events": events, "format": "tilework"}
    return new_job(state, key, body.operation, source, body.params, idempotency_key, webhook)


def _found(job: JobRecord | None, job_id: str) -> JobRecord:
    if job is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    return job


def _body(state: ApiState, job: JobRecord) -> schemas.Job:
    return job_body(state, job)
