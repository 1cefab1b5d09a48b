"""fal's queue API under ``/fal``: submit, status (polled or streamed), result and cancel, for
models ``tilework/<operation>`` (or an installed operation's package, or a deployment), and
``/fal/run/…``, fal's synchronous endpoint, which answers with the result.

The input image is ``image_url`` (a URL, a ``data:`` URI or one of this server's file URLs);
the rest of the body is the operation's params.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AnyHttpUrl
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices
from tilework.api.fal import schemas
from tilework.api.fal.errors import FalCaller, FalRoute
from tilework.api.fal.views import (
    billable_units,
    request_urls,
    result,
    status_body,
)
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import EventType, JobRecord, JobStatus
from tilework.core.keys import ApiKey
from tilework.service.cancels import cancel_job
from tilework.service.models import deployment_of, find_operation
from tilework.service.services import Services
from tilework.service.submit import JobRequest, submit
from tilework.service.uploads import image_source
from tilework.service.validation import invalid_fields
from tilework.service.waits import finished_within

router = APIRouter(prefix="/fal", tags=["fal"], route_class=FalRoute)

IMAGE_FIELD = "image_url"
# fal's webhook: one message, when the request ends however it ends.
WEBHOOK_EVENTS = sorted(
    event.value for event in (EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELED)
)
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.02, 0.25
KEEPALIVE_SECONDS = 15.0  # fal's stream sends a comment this often
# fal.run holds the connection until the result; a request past this answers 504 and runs on.
RUN_WAIT_SECONDS = 300.0

Logs = Annotated[bool, Query(description="1 or true: the status carries the request's log lines.")]
SubmitBody = Annotated[
    dict[str, Any],
    Body(
        description="``image_url`` (an http(s) URL, a data: URI or a file URL of this "
        "server) and the operation's params.",
        examples=[{"image_url": "https://example.com/photo.jpg", "scale": 4}],
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="A retried submit with the same key makes no second request.",
    ),
]


@router.post(
    "/run/{owner}/{app}",
    response_model=schemas.Result,
    responses={504: {"model": schemas.FalError, "description": "Still running; poll it."}},
)
async def run(
    owner: str,
    app: str,
    body: SubmitBody,
    services: AppServices,
    key: FalCaller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """fal's synchronous call: submit, then answer with the result once the request ends."""
    job, _ = await _submit(services, key, f"{owner}/{app}", body, None, idempotency_key)
    job = await finished_within(services.queue, job, RUN_WAIT_SECONDS)
    if not job.status.terminal:
        urls = request_urls(services.settings, f"{owner}/{app}", job.id)
        raise TileworkError(
            ErrorCode.TIMEOUT,
            f"request {job.id} is still running; follow it at {urls['status_url']}",
            {"request_id": job.id, **urls},
        )
    return _result_response(services, job)


@router.get(
    "/{owner}/{app}/requests/{request_id}/status",
    response_model=schemas.Status,
    responses={202: {"model": schemas.Status, "description": "Queued or in progress."}},
)
async def request_status(
    owner: str,
    app: str,
    request_id: str,
    services: AppServices,
    key: FalCaller,
    logs: Logs = False,
) -> JSONResponse:
    """202 while the request waits or runs, 200 once it has ended (``COMPLETED``, with
    ``error`` and ``error_type`` when it failed or was canceled)."""
    job = await _job(services, key, request_id)
    body = await _status(services, f"{owner}/{app}", job, logs)
    return JSONResponse(body, status_code=200 if job.status.terminal else 202)


@router.get(
    "/{owner}/{app}/requests/{request_id}/status/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Status events."}},
)
async def request_status_stream(
    owner: str,
    app: str,
    request_id: str,
    services: AppServices,
    key: FalCaller,
    logs: Logs = False,
) -> StreamingResponse:
    """Server-sent events: a ``data:`` status each time it changes, a comment every 15 s while
    nothing does; the stream ends after ``COMPLETED``. Each status carries the log lines that
    are new since the one before (the JavaScript client adds them up)."""
    job = await _job(services, key, request_id)
    return StreamingResponse(
        _statuses(services, f"{owner}/{app}", job, logs),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "x-fal-request-id": job.id,
        },
    )


@router.get(
    "/{owner}/{app}/requests/{request_id}",
    response_model=schemas.Result,
    responses={400: {"model": schemas.FalError, "description": "Not finished, or canceled."}},
)
async def request_result(
    owner: str, app: str, request_id: str, services: AppServices, key: FalCaller
) -> Response:
    """The finished request's output, or its error with the error's status, as fal answers."""
    job = await _job(services, key, request_id)
    if not job.status.terminal:
        # fal's answer to a result asked for too soon; the code is fal's, not an ErrorCode.
        detail = "Request is still in progress"
        return JSONResponse(
            {"detail": detail, "error_type": "request_in_progress", "message": detail},
            status_code=400,
            headers={"x-fal-request-id": job.id},
        )
    return _result_response(services, job)


@router.put(
    "/{owner}/{app}/requests/{request_id}/cancel",
    response_model=schemas.Cancel,
    status_code=202,
    responses={
        400: {"model": schemas.Cancel, "description": "It had already ended."},
        404: {"model": schemas.Cancel, "description": "No such request for the caller."},
    },
)
async def request_cancel(
    owner: str, app: str, request_id: str, services: AppServices, key: FalCaller
) -> JSONResponse:
    """``CANCELLATION_REQUESTED`` (202) while it can be canceled, ``ALREADY_COMPLETED`` (400)
    once it has ended, ``NOT_FOUND`` (404)."""
    before = await run_in_threadpool(services.queue.get_job, request_id, key.tenant)
    if before is None:
        return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
    if before.status.terminal:
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
    after = await run_in_threadpool(cancel_job, services, request_id, key.tenant)
    if after is None or after.status is not JobStatus.CANCELED:
        # It ended on its own between the two reads.
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)
    return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)


@router.post("/{owner}/{app}", response_model=schemas.Submitted, response_model_exclude_none=True)
async def submit_request(
    owner: str,
    app: str,
    body: SubmitBody,
    services: AppServices,
    key: FalCaller,
    response: Response,
    fal_webhook: Annotated[
        AnyHttpUrl | None,
        Query(description="Where the result is posted, signed, once the request ends."),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Queue a request: its id and the URLs to follow it at."""
    app_id = f"{owner}/{app}"
    webhook = None if fal_webhook is None else str(fal_webhook)
    job, created = await _submit(services, key, app_id, body, webhook, idempotency_key)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    position = await run_in_threadpool(services.queue.queue_position, job)
    answer: dict[str, Any] = {
        "request_id": job.id,
        "status": "IN_QUEUE",
        "queue_position": position,
        **request_urls(services.settings, app_id, job.id),
    }
    if webhook is not None:
        answer["gateway_request_id"] = job.id
    return answer


@router.post("/{owner}/{app}/{path:path}", response_model=schemas.Submitted)
async def submit_to_path(owner: str, app: str, path: str, key: FalCaller) -> None:
    """An app's named endpoint: tilework's models have none; a clear 404 says so."""
    raise TileworkError(
        ErrorCode.NOT_FOUND,
        f"{owner}/{app} has no endpoint /{path}: submit to /fal/{owner}/{app} itself",
        {"model": f"{owner}/{app}/{path}"},
    )


async def _submit(
    services: Services,
    key: ApiKey,
    app_id: str,
    body: dict[str, Any],
    webhook: str | None,
    idempotency_key: str | None,
) -> tuple[JobRecord, bool]:
    operation, params = _model(services, app_id)
    params = {**params, **body}
    image = params.pop(IMAGE_FIELD, None)
    source: dict[str, Any] = {}
    if image is not None or services.registry.get(operation).needs_input:
        if not isinstance(image, str) or not image:
            raise invalid_fields(
                [{"loc": (IMAGE_FIELD,), "msg": "give the image as a URL or a data: URI"}]
            )
        source = await run_in_threadpool(image_source, services, key.tenant, image, IMAGE_FIELD)
    request = JobRequest(
        operation,
        source,
        params,
        idempotency_key=idempotency_key,
        webhook=None
        if webhook is None
        else {"url": webhook, "events": WEBHOOK_EVENTS, "format": "fal"},
        cache=False,  # fal's queue runs every request: its clients follow each one's lifecycle
    )
    return await submit(services, key, request)


def _model(services: Services, app_id: str) -> tuple[str, dict[str, Any]]:
    """The operation an app id runs, and the params it starts from (a deployment's)."""
    operation = find_operation(services.registry, app_id)
    if operation is not None:
        return operation, {}
    if app_id in services.settings.deployments:
        deployment = deployment_of(services.settings, app_id)
        return deployment.operation, dict(deployment.params)
    models = [f"tilework/{name}" for name in services.registry.names()]
    models += sorted(services.settings.deployments)
    raise TileworkError(
        ErrorCode.NOT_FOUND,
        f"no model {app_id}; models are {', '.join(models)}",
        {"model": app_id},
    )


async def _job(services: Services, key: ApiKey, request_id: str) -> JobRecord:
    job = await run_in_threadpool(services.queue.get_job, request_id, key.tenant)
    if job is None:
        raise TileworkError(
            ErrorCode.NOT_FOUND, f"no request {request_id}", {"request_id": request_id}
        )
    return job


async def _status(services: Services, app_id: str, job: JobRecord, logs: bool) -> dict[str, Any]:
    position = await run_in_threadpool(services.queue.queue_position, job)
    events = await run_in_threadpool(services.events.after, job.id) if logs else None
    return status_body(services.settings, app_id, job, position, events)


async def _statuses(
    services: Services, app_id: str, job: JobRecord, logs: bool
) -> AsyncIterator[str]:
    last: dict[str, Any] | None = None
    logged = 0  # log lines sent so far
    pause, quiet_since = FIRST_POLL_SECONDS, time.monotonic()
    while True:
        body = await _status(services, app_id, job, logs)
        if body != last:
            sent = dict(body)
            if body.get("logs") is not None:
                sent["logs"], logged = body["logs"][logged:], len(body["logs"])
            yield f"data: {json.dumps(sent, separators=(',', ':'))}\n\n"
            last, pause, quiet_since = body, FIRST_POLL_SECONDS, time.monotonic()
            if job.status.terminal:
                return
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_POLL_SECONDS)
        current = await run_in_threadpool(services.queue.get_job, job.id)
        if current is None:  # deleted while followed
            return
        job = current


def _result_response(services: Services, job: JobRecord) -> JSONResponse:
    status, body = result(services.settings, services.objects, job)
    headers = {"x-fal-request-id": job.id}
    if status == 200:
        headers["x-fal-billable-units"] = billable_units(job)
    return JSONResponse(body, status_code=status, headers=headers)
