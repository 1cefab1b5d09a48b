"""Webhook messages in the API's wire formats, for the sender (``webhooks.deliverer``), which
runs in every host with workers: a tilework event or a Replicate prediction, signed as Standard
Webhooks with the tenant's secret, or fal's completion message, signed with Ed25519 as fal signs.

Only wire formats are imported from here, no routes: a worker host loads pydantic's models, not
FastAPI's app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tilework.api.fal.views import result
from tilework.api.replicate.views import prediction_body
from tilework.api.v1.bodies import event_body
from tilework.core.falsigning import fal_signed_headers
from tilework.core.jobs import JobStatus
from tilework.core.settings import Settings
from tilework.core.signatures import signed_headers
from tilework.objects.store import ObjectStore
from tilework.service.links import OutputLinks
from tilework.store.deliveries import Delivery
from tilework.store.events import EventLog, JobEvent
from tilework.webhooks.deliverer import Message, Render


def delivery_renderer(
    settings: Settings,
    links: OutputLinks,
    events: EventLog,
    secrets: Callable[[str], list[str]],
    fal_key: Callable[[], str],
) -> Render:
    """``secrets``: a tenant's Standard Webhooks secrets; ``fal_key``: the Ed25519 key."""
    objects = links.objects
    # Each tenant's secrets, found at its first delivery; a rotation is a restart.
    known: dict[str, list[str]] = {}
    signing: list[str] = []  # the Ed25519 key, read at the first fal message

    def render(delivery: Delivery, event: JobEvent) -> Message:
        if delivery.format == "fal":
            body = _encoded(fal_body(settings, objects, event))
            if not signing:
                signing.append(fal_key())
            headers = fal_signed_headers(signing[0], event.job_id, event.job.tenant, body)
            return Message(body, headers)
        if delivery.format == "replicate":
            # Replicate's webhook carries the prediction with its logs up to this event.
            logged = [e for e in events.after(event.job_id) if e.id <= event.id]
            body = _encoded(prediction_body(settings, objects, event.job, logged))
        else:
            body = _encoded(event_body(settings, links, event).model_dump(mode="json"))
        tenant = event.job.tenant
        if tenant not in known:
            known[tenant] = secrets(tenant)
        return Message(body, signed_headers(known[tenant], delivery.id, body))

    return render


def fal_body(settings: Settings, objects: ObjectStore, event: JobEvent) -> dict[str, Any]:
    """fal's completion message: ``OK`` and the result as ``payload``, or ``ERROR``, the
    error's status in ``error`` and its body as ``payload``. fal adds ``payload_error`` when
    its output does not serialise; tilework's result is JSON by construction, so never."""
    job = event.job
    status, payload = result(settings, objects, job)
    body: dict[str, Any] = {
        "request_id": job.id,
        "gateway_request_id": job.id,
        "status": "OK" if job.status is JobStatus.SUCCEEDED else "ERROR",
        "payload": payload,
    }
    if job.status is not JobStatus.SUCCEEDED:
        body["error"] = f"Invalid status code: {status}"
    return body


def _encoded(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
