"""Webhooks in: a remote provider reporting that a tile's prediction ended.

The callback is only a wake-up call. It must be signed with the provider's secret, and it
wakes the task only if the task is waiting on that very prediction; the task then reads the
prediction from the provider itself, so a forged or replayed body can change nothing.
"""

from __future__ import annotations

import json
import threading

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices
from tilework.api.v1 import schemas
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.signatures import verify
from tilework.remote.providers import ProviderClient
from tilework.service.services import Services

router = APIRouter(prefix="/v1/providers", tags=["providers"])
MAX_CALLBACK_BYTES = 1 << 20

_secrets: dict[str, str] = {}
_secrets_lock = threading.Lock()


@router.post(
    "/{provider}/callbacks/{task_id}",
    responses={401: {"model": schemas.ErrorBody}, 404: {"model": schemas.ErrorBody}},
)
async def provider_callback(
    provider: str, task_id: int, request: Request, services: AppServices
) -> dict[str, bool]:
    """Answer 2xx to every authentic callback, woken or not, so the provider stops sending."""
    if provider not in services.settings.providers:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no provider {provider}", {"provider": provider})
    body = await _body(request)
    try:
        verify(await run_in_threadpool(_secret, services, provider), request.headers, body)
    except TileworkError:
        # The provider may have rotated its secret since we asked: ask once more.
        fresh = await run_in_threadpool(_secret, services, provider, True)
        verify(fresh, request.headers, body)
    try:
        prediction_id = json.loads(body).get("id")
    except (ValueError, AttributeError):
        prediction_id = None
    task = await run_in_threadpool(services.queue.task, task_id)
    waiting_on = (task.payload.get("deferred") or {}) if task else {}
    if waiting_on.get("provider") != provider or waiting_on.get("prediction") != prediction_id:
        return {"woken": False}  # a superseded prediction, or a task already done
    return {"woken": await run_in_threadpool(services.queue.wake, task_id)}


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_CALLBACK_BYTES:
            raise TileworkError(
                ErrorCode.PAYLOAD_TOO_LARGE, f"callbacks are limited to {MAX_CALLBACK_BYTES} bytes"
            )
    return body


def _secret(services: Services, provider: str, fresh: bool = False) -> str:
    """The provider's signing secret, asked for once per process (again when ``fresh``)."""
    with _secrets_lock:
        if fresh or provider not in _secrets:
            settings = services.settings
            with ProviderClient(provider, settings.providers[provider], settings) as client:
                _secrets[provider] = client.webhook_secret()
        return _secrets[provider]
