"""Replicate's endpoints: create (by model, by version or by deployment), get, cancel and list
predictions, the configured deployments, and the tenant's webhook signing secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Query, Response
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices, Caller
from tilework.api.prefer import preferred_wait
from tilework.api.replicate import schemas
from tilework.api.replicate.problems import REFUSED_URL, Problem, ProblemRoute
from tilework.api.replicate.translate import (
    PredictionCreate,
    as_input,
    cancel_after_seconds,
    invalid,
    job_webhook,
    split_input,
)
from tilework.api.replicate.views import prediction_body
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord
from tilework.core.keys import ApiKey
from tilework.core.settings import Deployment
from tilework.service.cancels import cancel_job
from tilework.service.models import deployment_of, model_name, operation_of
from tilework.service.services import Services
from tilework.service.submit import JobRequest, submit
from tilework.service.uploads import image_source
from tilework.service.waits import finished_within

PAGE_SIZE = 100
# Deployments come from settings, read when the process started: their release's creation.
SETTINGS_READ_AT = datetime.now(UTC).isoformat()


router = APIRouter(prefix="/v1", tags=["replicate"], route_class=ProblemRoute)


@dataclass(frozen=True)
class CreateHeaders:
    """What the official clients may send with a create, besides its body."""

    prefer: str | None
    cancel_after: float | None
    idempotency_key: str | None


def create_headers(
    prefer: Annotated[
        str | None,
        Header(description="``wait`` or ``wait=N`` (1–60 s): hold the answer until it ends."),
    ] = None,
    cancel_after: Annotated[
        str | None,
        Header(
            alias="Cancel-After",
            description="A duration (30s, 5m, 1h30m, or seconds) after which the prediction, "
            "if not finished, is canceled; the body's deadline.",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="A retried create with the same key makes no second prediction.",
        ),
    ] = None,
) -> CreateHeaders:
    return CreateHeaders(prefer, cancel_after_seconds(cancel_after), idempotency_key)


Headers = Annotated[CreateHeaders, Depends(create_headers)]


@router.post(
    "/models/{owner}/{name}/predictions",
    status_code=201,
    response_model=schemas.Prediction,
    responses=REFUSED_URL,
)
async def create_model_prediction(
    owner: str,
    name: str,
    body: PredictionCreate,
    response: Response,
    services: AppServices,
    key: Caller,
    headers: Headers,
) -> dict[str, Any]:
    operation = operation_of(services.registry, f"{owner}/{name}")
    return await _create(services, key, operation, body, response, headers)


@router.post(
    "/predictions",
    status_code=201,
    response_model=schemas.Prediction,
    # The version names the model: one there is not is 404, as a model's path would be.
    responses={**REFUSED_URL, 404: {"model": Problem, "description": "No model of that version."}},
)
async def create_prediction(
    body: PredictionCreate,
    response: Response,
    services: AppServices,
    key: Caller,
    headers: Headers,
) -> dict[str, Any]:
    if not body.version:
        raise invalid("version", "name the operation, e.g. tilework/upscale")
    operation = operation_of(services.registry, body.version)
    return await _create(services, key, operation, body, response, headers)


@router.post(
    "/deployments/{owner}/{name}/predictions",
    status_code=201,
    response_model=schemas.Prediction,
    responses=REFUSED_URL,
)
async def create_deployment_prediction(
    owner: str,
    name: str,
    body: PredictionCreate,
    response: Response,
    services: AppServices,
    key: Caller,
    headers: Headers,
) -> dict[str, Any]:
    """A prediction of a configured deployment: its operation, its params under the input's."""
    deployment = deployment_of(services.settings, f"{owner}/{name}")
    return await _create(
        services, key, deployment.operation, body, response, headers, deployment.params
    )


@router.get("/deployments/{owner}/{name}", response_model=schemas.Deployment)
def get_deployment(owner: str, name: str, services: AppServices, key: Caller) -> dict[str, Any]:
    name = f"{owner}/{name}"
    return _deployment_body(services, name, deployment_of(services.settings, name))


@router.get("/deployments", response_model=schemas.DeploymentPage)
def list_deployments(services: AppServices, key: Caller) -> dict[str, Any]:
    configured = sorted(services.settings.deployments.items())
    return {
        "previous": None,
        "next": None,
        "results": [_deployment_body(services, name, found) for name, found in configured],
    }


@router.get("/predictions/{prediction_id}", response_model=schemas.Prediction)
def get_prediction(prediction_id: str, services: AppServices, key: Caller) -> dict[str, Any]:
    job = _found(services.queue.get_job(prediction_id, key.tenant), prediction_id)
    return prediction_body(services.settings, services.objects, job, services.events.after(job.id))


@router.post("/predictions/{prediction_id}/cancel", response_model=schemas.Prediction)
def cancel_prediction(prediction_id: str, services: AppServices, key: Caller) -> dict[str, Any]:
    job = _found(cancel_job(services, prediction_id, key.tenant), prediction_id)
    return prediction_body(services.settings, services.objects, job, services.events.after(job.id))


@router.get("/predictions", response_model=schemas.PredictionPage)
def list_predictions(
    services: AppServices,
    key: Caller,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE)] = PAGE_SIZE,
    created_after: Annotated[
        datetime | None, Query(description="ISO 8601; predictions created at or after it.")
    ] = None,
    created_before: Annotated[
        datetime | None, Query(description="ISO 8601; predictions created before it.")
    ] = None,
) -> dict[str, Any]:
    """Newest first, ``limit`` a page; ``next`` is the URL of the following page."""
    after, before = _seconds(created_after), _seconds(created_before)
    found = services.queue.list_jobs(
        tenant=key.tenant,
        limit=limit,
        before=cursor,
        created_after=after,
        created_before=before,
    )
    following = None
    if len(found) == limit:
        window = {
            name: value.isoformat()
            for name, value in (
                ("created_after", created_after),
                ("created_before", created_before),
            )
            if value is not None
        }
        query = urlencode({"cursor": found[-1].id, "limit": limit, **window})
        following = f"{services.settings.resolved_public_url}/v1/predictions?{query}"
    return {
        "previous": None,
        "next": following,
        "results": [
            prediction_body(services.settings, services.objects, job, None) for job in found
        ],
    }


@router.get("/webhooks/default/secret", response_model=schemas.WebhookSecret)
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
    headers: CreateHeaders,
    preset: dict[str, Any] | None = None,
) -> dict[str, Any]:
    wait = preferred_wait(headers.prefer)
    image, params = split_input(body, services.registry.get(operation).needs_input)
    source = (
        {}
        if image is None
        else await run_in_threadpool(image_source, services, key.tenant, image, "input.image")
    )
    request = JobRequest(
        operation,
        source,
        {**(preset or {}), **params},
        idempotency_key=headers.idempotency_key,
        webhook=job_webhook(body),
        cancel_after=headers.cancel_after,
        cache=False,  # Replicate runs every prediction: its clients follow each one's lifecycle
    )
    try:
        job, created = await submit(services, key, request)
    except TileworkError as error:
        raise as_input(error) from None
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
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


def _deployment_body(services: Services, name: str, deployment: Deployment) -> dict[str, Any]:
    """A deployment as Replicate shows one: one release, running the configured operation."""
    owner, _, short_name = name.partition("/")
    return {
        "owner": owner,
        "name": short_name,
        "current_release": {
            "number": 1,
            "model": model_name(services.registry, deployment.operation),
            "version": deployment.operation,
            "created_at": SETTINGS_READ_AT,
            "created_by": {"type": "organization", "username": owner, "name": owner},
            "configuration": {
                "hardware": "tilework",
                "min_instances": 0,
                "max_instances": services.settings.workers,
                "params": deployment.params,
            },
        },
    }


def _seconds(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    # A time without a zone is read as UTC, as Replicate's timestamps are.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _found(job: JobRecord | None, prediction_id: str) -> JobRecord:
    if job is None:
        raise TileworkError(
            ErrorCode.NOT_FOUND, f"no prediction {prediction_id}", {"id": prediction_id}
        )
    return job
