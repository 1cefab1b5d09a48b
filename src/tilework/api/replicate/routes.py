"""Replicate's endpoints: create (by model or by version), get, cancel and list predictions,
and the tenant's webhook signing secret."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Response
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices, Caller
from tilework.api.prefer import preferred_wait
from tilework.api.replicate.problems import ProblemRoute
from tilework.api.replicate.translate import (
    PredictionCreate,
    as_input,
    invalid,
    job_source,
    job_webhook,
    operation_of,
    split_input,
)
from tilework.api.replicate.views import prediction_body
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord
from tilework.core.keys import ApiKey
from tilework.service.services import Services
from tilework.service.submit import JobRequest, submit
from tilework.service.waits import finished_within

PAGE_SIZE = 100


router = APIRouter(prefix="/v1", tags=["replicate"], route_class=ProblemRoute)


@router.post("/models/{owner}/{name}/predictions", status_code=201)
async def create_model_prediction(
    owner: str,
    name: str,
    body: PredictionCreate,
    response: Response,
    services: AppServices,
    key: Caller,
    prefer: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    operation = operation_of(services.registry, f"{owner}/{name}")
    return await _create(services, key, operation, body, response, prefer)


@router.post("/predictions", status_code=201)
async def create_prediction(
    body: PredictionCreate,
    response: Response,
    services: AppServices,
    key: Caller,
    prefer: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    if not body.version:
        raise invalid("version", "name the operation, e.g. tilework/upscale")
    operation = operation_of(services.registry, body.version)
    return await _create(services, key, operation, body, response, prefer)


@router.get("/predictions/{prediction_id}")
def get_prediction(prediction_id: str, services: AppServices, key: Caller) -> dict[str, Any]:
    job = _found(services.queue.get_job(prediction_id, key.tenant), prediction_id)
    return prediction_body(services.settings, services.objects, job, services.events.after(job.id))


@router.post("/predictions/{prediction_id}/cancel")
def cancel_prediction(prediction_id: str, services: AppServices, key: Caller) -> dict[str, Any]:
    job = _found(services.queue.cancel_job(prediction_id, key.tenant), prediction_id)
    return prediction_body(services.settings, services.objects, job, services.events.after(job.id))


@router.get("/predictions")
def list_predictions(
    services: AppServices,
    key: Caller,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE)] = PAGE_SIZE,
) -> dict[str, Any]:
    """Newest first, ``limit`` a page; ``next`` is the URL of the following page."""
    found = services.queue.list_jobs(tenant=key.tenant, limit=limit, before=cursor)
    following = None
    if len(found) == limit:
        query = urlencode({"cursor": found[-1].id, "limit": limit})
        following = f"{services.settings.resolved_public_url}/v1/predictions?{query}"
    return {
        "previous": None,
        "next": following,
        "results": [
            prediction_body(services.settings, services.objects, job, None) for job in found
        ],
    }


@router.get("/webhooks/default/secret")
def webhook_secret(services: AppServices, key: Caller) -> dict[str, str]:
    """The secret this server signs the caller's tenant's webhooks with (Replicate's endpoint
    for it): each tenant has its own, so no tenant can sign as tilework to another."""
    return {"key": services.webhook_secrets(key.tenant)[0]}


async def _create(
    services: Services,
    key: ApiKey,
    operation: str,
    body: PredictionCreate,
    response: Response,
    prefer: str | None,
) -> dict[str, Any]:
    wait = preferred_wait(prefer)
    image, params = split_input(body)
    objects, max_bytes = services.objects_for(key.tenant), services.settings.max_upload_bytes
    source = await run_in_threadpool(job_source, objects, max_bytes, image)
    request = JobRequest(operation, source, params, webhook=job_webhook(body))
    try:
        job, _ = await submit(services, key, request)
    except TileworkError as error:
        raise as_input(error) from None
    base_url = services.settings.resolved_public_url
    response.headers["Location"] = f"{base_url}/v1/predictions/{job.id}"
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        job = await finished_within(services.queue, job, wait)
    events = await run_in_threadpool(services.events.after, job.id)
    prediction = prediction_body(services.settings, services.objects, job, events)
    if wait is not None and not job.status.terminal:
        # What Replicate answers when the wait runs out, and what its clients read as "not
        # finished, poll on" (they take any other status after a wait as the final one).
        prediction["status"] = "starting"
    return prediction


def _found(job: JobRecord | None, prediction_id: str) -> JobRecord:
    if job is None:
        raise TileworkError(
            ErrorCode.NOT_FOUND, f"no prediction {prediction_id}", {"id": prediction_id}
        )
    return job
