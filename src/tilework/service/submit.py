"""Turn a submit into a job to insert: the one path every submit route takes.

Every skin (``/v1/jobs``, Replicate's predictions, the render contract) hands over a
``JobRequest``; ``submit`` validates it with its operation, refuses inputs that name no
uploaded object or a blocked address (the fetch policy of ``tilework.net``), prices it for keys
with credits, and writes it through the group-commit ``Submitter``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import ValidationError

from tilework.core.destinations import DELIVER_STAGE
from tilework.core.jobs import NewJob
from tilework.core.keys import ApiKey
from tilework.core.settings import Settings
from tilework.core.sources import FETCH_STAGE
from tilework.imaging.header import read_size_of
from tilework.objects.store import ObjectStore
from tilework.ops.base import Operation, largest_input
from tilework.ops.caching import answered_from_cache, cache_key, input_digest
from tilework.ops.inputs import refuse_blocked_url, require_uploaded
from tilework.service.destinations import delivery_for, project_destination
from tilework.service.files import file_source, own_file_id
from tilework.service.services import Services
from tilework.service.submitter import Outcome
from tilework.service.validation import invalid_fields


@dataclass(frozen=True)
class JobRequest:
    """A submit, as any route hands it over: the operation, its input, its params unchecked."""

    operation: str
    source: dict[str, Any]  # {"key": an uploaded object}, {"url": ...} or {} (no input)
    params: dict[str, Any]
    idempotency_key: str | None = None
    webhook: dict[str, Any] | None = None  # {"url", "events", "format"}
    cancel_after: float | None = None  # seconds; past them an open job is canceled
    destination: dict[str, Any] | None = None  # {"name", "vars"}: where its outputs go
    # The render contract's project: its results go to the destination serving it, if any.
    project: str | None = None
    priority: int = 0  # orders the tenant's own work
    run_at: float | None = None  # unix seconds: not claimed before
    deadline: float | None = None  # unix seconds: canceled (timeout) if not finished by then
    cache: bool | None = None  # False: never answered from the cache; True: asked (predict)
    traceparent: str | None = None  # W3C trace context, carried to its tasks and providers


async def submit(services: Services, key: ApiKey, request: JobRequest) -> Outcome:
    """Validate and insert the job (or find the one its idempotency key made); raises the
    refusal: ``validation_failed``, ``ssrf_blocked``, ``queue_full``, ..."""
    return await services.submitter.submit(lambda: new_job(services, key, request))


def new_job(services: Services, key: ApiKey, request: JobRequest) -> NewJob:
    """Validate the params with their operation, check the input exists, ask the operation to
    admit the job. Runs on the submitter's thread: it may touch storage."""
    settings = services.settings
    operation = services.registry.get(request.operation)
    try:
        valid = operation.validate(request.params)
    except ValidationError as exc:
        raise invalid_fields(exc.errors(), prefix=("params",)) from exc
    objects = services.objects_for(key.tenant)
    source, webhook = request.source, request.webhook
    file_id = own_file_id(settings, source["url"]) if "url" in source else None
    if file_id is not None:  # one of this server's files: its bytes, never a fetch
        source = file_source(services, key.tenant, file_id)
    if "key" in source:
        require_uploaded(objects, source["key"], "input.key")
    elif "url" in source:
        refuse_blocked_url(settings, source["url"], "input.url")
    elif operation.requires_input(valid):
        raise invalid_fields(
            [{"loc": ("input",), "msg": f"{request.operation} needs an input image"}]
        )
    if webhook is not None:
        refuse_blocked_url(settings, webhook["url"], "webhook.url")
    operation.admit(valid, source, objects, settings)
    cost = 0.0 if key.credits is None else price(operation, valid, source, objects, settings)
    params_json = valid.model_dump(mode="json")
    delivery = _delivery(services, key.tenant, request, params_json)
    use_cache = answered_from_cache(operation, valid, request.cache)
    digest = input_digest(source)
    key_of = partial(cache_key, settings, operation, valid, params=params_json)
    # A URL's bytes decide the key: fetched first if the cache may answer the job.
    fetch_first = use_cache and digest is None and "url" in source and key_of("") is not None
    stages = (
        ([FETCH_STAGE] if fetch_first else [])
        + operation.stages(valid)
        + ([DELIVER_STAGE] if delivery is not None else [])
    )
    idempotency_key = request.idempotency_key
    return NewJob(
        operation=request.operation,
        params=params_json,
        input=source,
        stages=stages,
        # Unique per tenant: another tenant's key of the same name is another job.
        idempotency_key=None if idempotency_key is None else f"{key.tenant}/{idempotency_key}",
        request_hash=_request_hash(
            request.operation, source, params_json, webhook, _asked_besides(request, delivery)
        ),
        webhook=webhook,
        tenant=key.tenant,
        key_id=key.id,
        max_open_jobs=key.max_queued_jobs or settings.max_queued_jobs_per_key,
        cost=cost,
        cancel_after=request.cancel_after,
        delivery=delivery,
        priority=request.priority,
        run_at=request.run_at,
        deadline=request.deadline,
        cache_key=None if digest is None else key_of(digest),
        use_cache=use_cache,
        traceparent=request.traceparent,
    )


def _asked_besides(request: JobRequest, delivery: dict[str, Any] | None) -> list[Any]:
    """What a request asks besides its work (a deadline, a destination, a priority, a start),
    each only when asked: hashes of requests without stay what they were. Whether the cache
    may answer it does not make it another request."""
    asked = {
        "cancel_after": request.cancel_after,
        "delivery": delivery,
        "priority": request.priority or None,
        "run_at": request.run_at,
        "deadline": request.deadline,
    }
    return [{name: value} for name, value in asked.items() if value is not None]


def _delivery(
    services: Services, tenant: str, request: JobRequest, params: dict[str, Any]
) -> dict[str, Any] | None:
    if request.destination is not None:
        return delivery_for(services, tenant, request.destination, params)
    if request.project is not None:
        name = project_destination(services, tenant, request.project)
        return None if name is None else {"destination": name, "vars": {}}
    return None


def price(
    operation: Operation[Any],
    params: Any,
    source: dict[str, Any],
    objects: ObjectStore,
    settings: Settings,
) -> float:
    """The credits to reserve: the operation's for this input (``Operation.reserve``). A URL's
    image is priced as the largest square input allowed; the charge at the end is what was
    made."""
    if "key" in source:
        with objects.open(source["key"]) as handle:
            found = read_size_of(handle, settings.max_input_pixels)
        size = (found.width, found.height)
    elif not source:
        size = (0, 0)
    else:
        size = largest_input(settings)
    return operation.reserve(params, size, settings)


def _request_hash(
    operation: str, source: dict[str, Any], params: dict[str, Any], webhook: Any, asked: list[Any]
) -> str:
    request = [operation, source, params] + ([webhook] if webhook is not None else []) + asked
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
