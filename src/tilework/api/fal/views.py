"""Jobs as fal's queue shows requests: a status with three states only, logs, and a result in
fal's shape; errors in fal's words (``detail``, FastAPI's ``loc``/``msg`` for fields).

fal has no failed or canceled state: the official Python client raises on any status but
``IN_QUEUE``, ``IN_PROGRESS`` and ``COMPLETED``. A job that ended badly is ``COMPLETED`` with
``error`` and ``error_type``; its result answers with the error's HTTP status, as fal's does.
"""

from __future__ import annotations

import re
from typing import Any

from tilework.api.v1.bodies import iso
from tilework.core.credits import made_cost
from tilework.core.errors import HTTP_STATUS, ErrorCode, TileworkError
from tilework.core.jobs import EventType, JobRecord, JobStatus, job_progress, with_output_urls
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.store.events import JobEvent

PREFIX = "/fal"
# What fal's Python client retries (up to ten times, backing off) rather than raises.
RETRIED_STATUSES = frozenset({408, 409, 429})
# A canceled request's result: the status fal's gateway answers a request that never ran.
CANCELED_STATUS = 400


def request_urls(settings: Settings, app_id: str, request_id: str) -> dict[str, str]:
    """Where the request is followed; the Python client uses these as they come."""
    base = f"{settings.resolved_public_url}{PREFIX}/{app_id}/requests/{request_id}"
    return {"status_url": f"{base}/status", "response_url": base, "cancel_url": f"{base}/cancel"}


def status_body(
    settings: Settings,
    app_id: str,
    job: JobRecord,
    queue_position: int,
    events: list[JobEvent] | None,
) -> dict[str, Any]:
    """The request's status; ``events`` make its logs (None: logs not asked for)."""
    body: dict[str, Any] = {"request_id": job.id, **request_urls(settings, app_id, job.id)}
    if job.status is JobStatus.QUEUED:
        return {"status": "IN_QUEUE", "queue_position": queue_position, **body}
    logs = None if events is None else [log_entry(event) for event in events]
    if not job.status.terminal:
        return {"status": "IN_PROGRESS", "logs": logs, **body}
    completed: dict[str, Any] = {"status": "COMPLETED", "logs": logs, "metrics": metrics(job)}
    if job.status is not JobStatus.SUCCEEDED:
        completed["error"] = job.error_message or job.status.value
        completed["error_type"] = job.error_code or job.status.value
    return {**completed, **body}


def metrics(job: JobRecord) -> dict[str, float]:
    if job.started_at is None or job.completed_at is None:
        return {}
    return {"inference_time": round(job.completed_at - job.started_at, 4)}


def log_entry(event: JobEvent) -> dict[str, str]:
    """A job event as a fal log line: ``{timestamp, level, source, message}``."""
    job = event.job
    if event.type is EventType.PROGRESS:
        progress = job_progress(job)
        message = f"{progress.percent:g}% {progress.stage or ''} ({progress.done}/{progress.total})"
    elif event.type is EventType.FAILED:
        message = f"failed: {job.error_message}"
    else:
        message = event.type.value
    level = "ERROR" if event.type is EventType.FAILED else "INFO"
    return {
        "timestamp": iso(event.created_at) or "",
        "level": level,
        "source": "user",
        "message": message,
    }


def result(settings: Settings, objects: ObjectStore, job: JobRecord) -> tuple[int, dict[str, Any]]:
    """The finished request's answer: 200 and its images (plus tilework's own outputs), or the
    status and body of its error. ``objects``: the whole store (outputs are per tenant)."""
    if job.status is JobStatus.SUCCEEDED:
        tenant_objects = TenantObjects(objects, job.tenant)
        outputs = [
            {**output, "url": tenant_objects.url(output["key"], settings.signed_url_seconds)}
            for output in job.outputs
        ]
        images = [
            {
                "url": output["url"],
                "width": output.get("width"),
                "height": output.get("height"),
                "content_type": output.get("content_type")
                or f"image/{output.get('format') or 'octet-stream'}",
                "file_size": output.get("bytes"),
            }
            for output in outputs
        ]
        if job.result is not None:  # a hosted model's answer, as it gave it
            answer = with_output_urls(job.result, [output["url"] for output in outputs])
            return 200, answer if isinstance(answer, dict) else {"output": answer}
        return 200, {"images": images, "outputs": outputs, "warnings": job.warnings}
    if job.status is JobStatus.CANCELED:
        detail = job.error_message or "canceled"
        body = {"detail": detail, "error_type": ErrorCode.CANCELED.value, "message": detail}
        return CANCELED_STATUS, body
    known = {code.value: code for code in ErrorCode}
    code = known.get(job.error_code or "", ErrorCode.INTERNAL_ERROR)
    return error_body(TileworkError(code, job.error_message or "the request failed"))


def error_body(error: TileworkError) -> tuple[int, dict[str, Any]]:
    """An error as fal's apps answer one (they are FastAPI apps): invalid fields as a list of
    ``{loc, msg, type}`` under ``detail``, anything else a ``detail`` sentence; both carry
    tilework's stable code as ``error_type``, and the sentence as ``message``, which is what
    the JavaScript client shows."""
    status = HTTP_STATUS.get(error.code, 500)
    if status in RETRIED_STATUSES and error.code is not ErrorCode.RATE_LIMITED:
        # The Python client retries these for a minute: a refusal no retry can change is 422.
        status = 422
    fields = error.details.get("errors")
    if error.code is ErrorCode.VALIDATION_FAILED and fields:
        detail: Any = [
            {
                "loc": fal_location(str(item.get("field", ""))),
                "msg": str(item.get("message", "")),
                "type": "value_error",
            }
            for item in fields
        ]
    else:
        detail = error.message
    body = {"detail": detail, "error_type": error.code.value, "message": error.message}
    return status, body


def fal_location(field: str) -> list[str | int]:
    """A tilework field (``params.scale``, ``input.url``) where a fal caller put it."""
    if field in ("input.url", "input.key", "input.image"):
        return ["body", "image_url"]
    if field == "webhook.url":
        return ["query", "fal_webhook"]
    where, _, rest = field.partition(".")
    if where in ("query", "path", "header", "headers") and rest:
        return ["header" if where == "headers" else where, *rest.split(".")]
    parts = re.sub(r"^(params|input|body)\.?", "", field).split(".") if field else []
    return ["body", *(int(part) if part.isdigit() else part for part in parts if part)]


def billable_units(job: JobRecord) -> str:
    """What the request made, in the unit tilework charges: output megapixels (at least one)."""
    return f"{made_cost(job.outputs):g}"
