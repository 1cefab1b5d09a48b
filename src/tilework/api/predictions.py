"""Replicate's HTTP API over tilework's jobs, so Replicate's clients work unchanged.

A prediction is a job. Models are ``tilework/<operation>``; a prediction's ``input`` is the
operation's params plus ``image``, a URL or a ``data:`` URI (stored as an upload). Statuses map
queued → ``starting``, running → ``processing``; the rest are the same words. Errors have
Replicate's shape: ``{"title", "detail", "status"}``, with tilework's ``code`` beside them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal
from urllib.parse import unquote_to_bytes, urlencode

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tilework.api.admission import new_job
from tilework.api.auth import Caller
from tilework.api.bodies import iso
from tilework.api.errors import error_headers, field_errors
from tilework.api.state import ApiState, api_state
from tilework.api.uploads import staging_path, store_staged
from tilework.api.waiting import finished_within, preferred_wait
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import SNIFF_BYTES
from tilework.core.jobs import EventType, JobRecord, JobStatus, job_progress
from tilework.core.keys import ApiKey
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.store.events import JobEvent
from tilework.store.secrets import webhook_secrets

OWNER = "tilework"
PAGE_SIZE = 100
_STATUS = {JobStatus.QUEUED: "starting", JobStatus.RUNNING: "processing"}
# Replicate's webhook filters, as the job events each one asks for.
_FILTERS: dict[str, list[EventType]] = {
    "start": [EventType.STARTED],
    "output": [EventType.SUCCEEDED],
    "logs": [EventType.PROGRESS],
    "completed": [EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELED],
}
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?),", re.DOTALL)
Filter = Literal["start", "output", "logs", "completed"]


class ProblemRoute(APIRoute):
    """Routes whose errors read as Replicate's (``title``, ``detail``, ``status``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return problem(field_errors(exc))
            except TileworkError as error:
                return problem(error)

        return handle


router = APIRouter(prefix="/v1", tags=["replicate"], route_class=ProblemRoute)
State = Annotated[ApiState, Depends(api_state)]


class PredictionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(None, description="The operation, as upscale or tilework/upscale.")
    input: dict[str, Any] = Field(default_factory=dict)
    webhook: AnyHttpUrl | None = None
    webhook_events_filter: list[Filter] | None = None
    stream: bool | None = None  # accepted for compatibility; every prediction has urls.stream


def problem(error: TileworkError) -> JSONResponse:
    body = {
        "title": error.code.value.replace("_", " "),
        "detail": error.message,
        "status": error.http_status,
        "code": error.code.value,
        **({"errors": error.details["errors"]} if "errors" in error.details else {}),
    }
    return JSONResponse(body, status_code=error.http_status, headers=error_headers(error))


@router.post("/models/{owner}/{name}/predictions", status_code=201)
async def create_model_prediction(
    owner: str,
    name: str,
    body: PredictionCreate,
    response: Response,
    state: State,
    key: Caller,
    prefer: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    operation = _operation(state, f"{owner}/{name}")
    return await _create(state, key, operation, body, response, prefer)


@router.post("/predictions", status_code=201)
async def create_prediction(
    body: PredictionCreate,
    response: Response,
    state: State,
    key: Caller,
    prefer: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    if not body.version:
        raise _invalid("version", "name the operation, e.g. tilework/upscale")
    return await _create(state, key, _operation(state, body.version), body, response, prefer)


@router.get("/predictions/{prediction_id}")
def get_prediction(prediction_id: str, state: State, key: Caller) -> dict[str, Any]:
    job = _found(state, state.queue.get_job(prediction_id, key.tenant), prediction_id)
    return prediction_body(state, job, state.events.after(job.id))


@router.post("/predictions/{prediction_id}/cancel")
def cancel_prediction(prediction_id: str, state: State, key: Caller) -> dict[str, Any]:
    job = _found(state, state.queue.cancel_job(prediction_id, key.tenant), prediction_id)
    return prediction_body(state, job, state.events.after(job.id))


@router.get("/predictions")
def list_predictions(
    state: State,
    key: Caller,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE)] = PAGE_SIZE,
) -> dict[str, Any]:
    """Newest first, ``limit`` a page; ``next`` is the URL of the following page."""
    found = state.queue.list_jobs(tenant=key.tenant, limit=limit, before=cursor)
    following = None
    if len(found) == limit:
        query = urlencode({"cursor": found[-1].id, "limit": limit})
        following = f"{state.settings.resolved_public_url}/v1/predictions?{query}"
    return {
        "previous": None,
        "next": following,
        "results": [prediction_body(state, job, None) for job in found],
    }


@router.get("/webhooks/default/secret")
def webhook_secret(state: State, key: Caller) -> dict[str, str]:
    """The secret this server signs the caller's tenant's webhooks with (Replicate's endpoint
    for it): each tenant has its own, so no tenant can sign as tilework to another."""
    return {"key": webhook_secrets(state.settings, state.database, key.tenant)[0]}


def prediction_body(
    state: ApiState, job: JobRecord, events: list[JobEvent] | None
) -> dict[str, Any]:
    """A job as Replicate shows a prediction; ``events`` make its ``logs`` (None: no logs)."""
    base = f"{state.settings.resolved_public_url}/v1"
    seconds = state.settings.signed_url_seconds
    objects = state.objects_for(job.tenant)
    urls = [objects.url(output["key"], seconds) for output in job.outputs]
    output: str | list[str] | None = None
    if job.status is JobStatus.SUCCEEDED:
        output = urls[0] if len(urls) == 1 else urls
    metrics = {}
    if job.started_at is not None and job.completed_at is not None:
        metrics["predict_time"] = round(job.completed_at - job.started_at, 4)
    return {
        "id": job.id,
        "model": f"{OWNER}/{job.operation}",
        "version": job.operation,
        "input": _prediction_input(state, job),
        "output": output,
        "logs": None if events is None else "".join(_log_line(event) for event in events),
        "error": job.error_message if job.status is JobStatus.FAILED else None,
        "status": _STATUS.get(job.status, job.status.value),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "data_removed": False,
        "source": "api",
        "metrics": metrics,
        "urls": {
            "get": f"{base}/predictions/{job.id}",
            "cancel": f"{base}/predictions/{job.id}/cancel",
            "stream": f"{base}/jobs/{job.id}/events",
        },
    }


async def _create(
    state: ApiState,
    key: ApiKey,
    operation: str,
    body: PredictionCreate,
    response: Response,
    prefer: str | None,
) -> dict[str, Any]:
    wait = preferred_wait(prefer)
    params = dict(body.input)
    image = params.pop("image", None)
    if not isinstance(image, str) or not image:
        raise _invalid("input.image", "give the image as a URL or a data: URI")
    source = await run_in_threadpool(_source, state.objects_for(key.tenant), state.settings, image)
    webhook = _webhook(body)
    try:
        job, _ = await state.submitter.submit(
            lambda: new_job(state, key, operation, source, params, webhook=webhook)
        )
    except TileworkError as error:
        raise _as_input(error) from None
    response.headers["Location"] = f"{state.settings.resolved_public_url}/v1/predictions/{job.id}"
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait:g}"
        job = await finished_within(state.queue, job, wait)
    events = await run_in_threadpool(state.events.after, job.id)
    prediction = prediction_body(state, job, events)
    if wait is not None and not job.status.terminal:
        # What Replicate answers when the wait runs out, and what its clients read as "not
        # finished, poll on" (they take any other status after a wait as the final one).
        prediction["status"] = "starting"
    return prediction


def _operation(state: ApiState, reference: str) -> str:
    """``upscale``, ``tilework/upscale`` or ``tilework/upscale:<anything>`` → ``upscale``."""
    owner, _, name = reference.split(":", 1)[0].rpartition("/")
    if owner not in ("", OWNER) or name not in state.registry.names():
        raise TileworkError(
            ErrorCode.NOT_FOUND,
            f"no model {reference}; models are {', '.join(_models(state))}",
            {"model": reference},
        )
    return name


def _models(state: ApiState) -> list[str]:
    return [f"{OWNER}/{name}" for name in sorted(state.registry.names())]


def _source(objects: ObjectStore, settings: Settings, image: str) -> dict[str, str]:
    """A job input from a URL, or from a data URI stored the way ``/v1/uploads`` stores."""
    if image.startswith(("http://", "https://")):
        return {"url": image}
    matched = _DATA_URI.match(image[:512])
    if matched is None:
        raise _invalid("input.image", "an http(s) URL or a data: URI")
    payload = image[matched.end() :]
    try:
        if ";base64" in matched.group("params"):
            data = base64.b64decode(payload, validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise _invalid("input.image", "the data URI's base64 is malformed") from None
    limit = settings.max_upload_bytes
    if len(data) > limit:
        raise TileworkError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"images are limited to {limit} bytes", {"max": limit}
        )
    staged = staging_path(objects, "datauri")
    try:
        staged.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        stored = store_staged(objects, staged, digest, len(data), data[:SNIFF_BYTES])
    finally:
        staged.unlink(missing_ok=True)
    return {"key": stored.key}


def _webhook(body: PredictionCreate) -> dict[str, Any] | None:
    if body.webhook is None:
        return None
    filters: list[str] = list(body.webhook_events_filter or _FILTERS)
    events = sorted({event.value for name in filters for event in _FILTERS[name]})
    return {"url": str(body.webhook), "events": events, "format": "replicate"}


def _as_input(error: TileworkError) -> TileworkError:
    """Name fields as Replicate's callers know them: ``input.scale``, not ``params.scale``."""
    errors = error.details.get("errors")
    if not errors:
        return error
    renamed = [{**item, "field": _replicate_field(str(item.get("field", "")))} for item in errors]
    message = re.sub(r"\bparams\.", "input.", error.message)
    return TileworkError(error.code, message, {**error.details, "errors": renamed})


def _replicate_field(field: str) -> str:
    if field == "input.url":  # the job's input URL was the prediction's image
        return "input.image"
    if field == "webhook.url":
        return "webhook"
    return re.sub(r"^params\.", "input.", field)


def _found(state: ApiState, job: JobRecord | None, prediction_id: str) -> JobRecord:
    if job is None:
        raise TileworkError(
            ErrorCode.NOT_FOUND, f"no prediction {prediction_id}", {"id": prediction_id}
        )
    return job


def _invalid(field: str, message: str) -> TileworkError:
    return TileworkError(
        ErrorCode.VALIDATION_FAILED,
        f"invalid request: {field}",
        {"errors": [{"field": field, "message": message}]},
    )


def _prediction_input(state: ApiState, job: JobRecord) -> dict[str, Any]:
    source = job.input
    seconds = state.settings.signed_url_seconds
    image = source.get("url") or state.objects_for(job.tenant).url(source["key"], seconds)
    return {"image": image, **job.params}


def _log_line(event: JobEvent) -> str:
    progress = job_progress(event.job)
    if event.type is EventType.PROGRESS:
        return (
            f"{iso(event.created_at)} {progress.percent:g}% {progress.stage or ''} "
            f"({progress.done}/{progress.total})\n"
        )
    if event.type is EventType.FAILED:
        return f"{iso(event.created_at)} failed: {event.job.error_message}\n"
    return f"{iso(event.created_at)} {event.type.value}\n"
