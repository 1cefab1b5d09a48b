"""Turn a validated request into a job to insert: the one path every submit route takes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from tilework.api.errors import field_errors
from tilework.api.state import ApiState
from tilework.core.jobs import NewJob
from tilework.ops.inputs import refuse_blocked_url, require_uploaded


def new_job(
    state: ApiState,
    operation_name: str,
    source: dict[str, Any],
    params: dict[str, Any],
    idempotency_key: str | None = None,
    webhook: dict[str, Any] | None = None,
) -> NewJob:
    """Validate the params with their operation, check the input exists, ask the operation to
    admit the job. Runs on the submitter's thread: it may touch storage."""
    operation = state.registry.get(operation_name)
    try:
        valid = operation.validate(params)
    except ValidationError as exc:
        raise field_errors(exc, prefix=("params",)) from exc
    if "key" in source:
        require_uploaded(state.objects, source["key"], "input.key")
    else:
        refuse_blocked_url(state.settings, source["url"], "input.url")
    if webhook is not None:
        refuse_blocked_url(state.settings, webhook["url"], "webhook.url")
    operation.admit(valid, source, state.objects, state.settings)
    params_json = valid.model_dump(mode="json")
    return NewJob(
        operation=operation_name,
        params=params_json,
        input=source,
        stages=operation.stages(valid),
        idempotency_key=idempotency_key,
        request_hash=_request_hash(operation_name, source, params_json, webhook),
        webhook=webhook,
    )


def _request_hash(
    operation: str, source: dict[str, Any], params: dict[str, Any], webhook: Any
) -> str:
    # The webhook only when there is one: hashes of requests without stay what they were.
    request = [operation, source, params] + ([webhook] if webhook is not None else [])
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
