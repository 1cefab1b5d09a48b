"""A job's events: a server-sent events stream, and its webhook deliveries.

``GET /v1/jobs/{id}/events`` replays the job's event log from the start (or from after
``Last-Event-ID``) and follows it until the terminal event. Every event carries its log id, so
a client that lost the connection resumes where it left off and misses nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices, Caller
from tilework.api.v1 import schemas
from tilework.api.v1.bodies import delivery_body, event_body, iso, job_body
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobRecord
from tilework.service.services import Services

router = APIRouter(prefix="/v1/jobs", tags=["events"])

FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.02, 0.2
KEEPALIVE_SECONDS = 15.0  # a comment line now and then keeps proxies from closing idle streams
RETRY_MILLISECONDS = 1000
# Event ids are 64-bit signed in both databases: a larger cursor is no event's (and SQLite
# refuses to bind it, midway through the stream).
MAX_EVENT_ID = 2**63 - 1


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The job's events."},
        404: {"model": schemas.ErrorBody},
    },
)
async def job_events(
    job_id: str,
    services: AppServices,
    key: Caller,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Resume after this event.")
    ] = None,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_EVENT_ID,
            description="Resume after this event (for clients without headers).",
        ),
    ] = None,
) -> StreamingResponse:
    """Server-sent events: ``started``, ``progress``, then one of ``succeeded``, ``failed``,
    ``canceled``, after which the stream ends. Each ``data`` is a ``JobEvent`` body."""
    job = await run_in_threadpool(services.queue.get_job, job_id, key.tenant)
    if job is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    cursor = after if after is not None else _event_id(last_event_id)
    return StreamingResponse(
        _stream(services, job_id, cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/{job_id}/deliveries",
    response_model=schemas.DeliveryList,
    responses={404: {"model": schemas.ErrorBody}},
)
def job_deliveries(job_id: str, services: AppServices, key: Caller) -> schemas.DeliveryList:
    """Every webhook message of the job, with each attempt and its outcome."""
    if services.queue.get_job(job_id, key.tenant) is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    return schemas.DeliveryList(
        items=[delivery_body(delivery) for delivery in services.deliveries.for_job(job_id)]
    )


async def _stream(services: Services, job_id: str, cursor: int) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    pause, quiet_since, sent_any = FIRST_POLL_SECONDS, time.monotonic(), cursor > 0
    while True:
        # The job before its events: an ended job's last event was written with its end, so
        # the events read next include it.
        job = await run_in_threadpool(services.queue.get_job, job_id)
        if job is None:  # deleted while followed
            return
        events = await run_in_threadpool(services.events.after, job_id, cursor)
        for event in events:
            body = event_body(services.settings, services.links, event)
            yield _message(event.type.value, body.model_dump_json(), event.id)
            cursor, sent_any = event.id, True
            if event.job.status.terminal:
                return
        if job.status.terminal:  # ended before the log existed: say how, once
            yield _message(job.status.value, _unlogged(services, job))
            return
        if not sent_any:  # nothing has happened yet: say where the job stands
            yield _message(job.status.value, _unlogged(services, job))
            sent_any = True
        if events:
            pause, quiet_since = FIRST_POLL_SECONDS, time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_POLL_SECONDS)


def _unlogged(services: Services, job: JobRecord) -> str:
    """An event body for a state with no log entry; it has no id, so resuming is unaffected."""
    when = job.completed_at or job.started_at or job.created_at
    body = schemas.JobEvent(
        type=f"job.{job.status.value}",
        event_id=None,
        timestamp=iso(when) or "",
        data=job_body(services.settings, services.links, job),
    )
    return body.model_dump_json()


def _message(event: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def _event_id(header: str | None) -> int:
    if header is None or not header.strip():
        return 0
    if not header.strip().isdigit() or int(header) > MAX_EVENT_ID:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            "Last-Event-ID must be the id of an event of this stream",
            {"errors": [{"field": "headers.last-event-id", "message": "not an event id"}]},
        )
    return int(header)
