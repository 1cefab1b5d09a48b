"""Webhooks in: a remote provider reporting that a request it ran for a task ended.

The callback is only a wake-up call. It must be signed as its provider's kind signs (Replicate:
Standard Webhooks with the provider's secret; fal: Ed25519 by a key of its JWKS document), and
it wakes the task only if the task is waiting on that very request; the task then reads the
request from the provider itself, so a forged or replayed body can change nothing.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices
from tilework.api.v1 import schemas
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.falsigning import jwks_public_keys, verify_fal_webhook
from tilework.core.settings import ProviderKind
from tilework.core.signatures import verify
from tilework.remote.clients import ReplicateClient
from tilework.remote.http import ProviderHttp, log
from tilework.service.services import Services

router = APIRouter(prefix="/v1/providers", tags=["providers"])
MAX_CALLBACK_BYTES = 1 << 20
JWKS_CACHE_SECONDS = 24 * 3600  # fal's advice: keep its keys a day at most

_secrets: dict[str, str] = {}
_keys: dict[str, tuple[float, list[bytes]]] = {}
_cache_lock = threading.Lock()


@router.post(
    "/{provider}/callbacks/{task_id}",
    responses={401: {"model": schemas.ErrorBody}, 404: {"model": schemas.ErrorBody}},
)
async def provider_callback(
    provider: str,
    task_id: int,
    request: Request,
    services: AppServices,
    attempt: Annotated[int | None, Query(description="the attempt that submitted")] = None,
) -> dict[str, bool]:
    """Answer 2xx to every authentic callback, woken or not, so the provider stops sending."""
    configured = services.settings.providers.get(provider)
    if configured is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no provider {provider}", {"provider": provider})
    body = await _body(request)
    if configured.kind is ProviderKind.FAL:
        await _verify_fal(services, provider, request, body)
        id_field = "request_id"
    else:
        await _verify_replicate(services, provider, request, body)
        id_field = "id"
    try:
        request_id = json.loads(body).get(id_field)
    except (ValueError, AttributeError):
        request_id = None
    task = await run_in_threadpool(services.queue.task, task_id)
    waiting_on = (task.payload.get("deferred") or {}) if task else {}
    woken = False  # a superseded request, or a task already done
    if waiting_on.get("provider") == provider and waiting_on.get("prediction") == request_id:
        woken = await run_in_threadpool(services.queue.wake, task_id)
    # Lost webhooks are the providers' users' first complaint: each one that came is on record.
    log.info(
        "provider_callback",
        provider=provider,
        task_id=task_id,
        attempt=attempt,
        request_id=request_id,
        woken=woken,
    )
    return {"woken": woken}


async def _verify_replicate(
    services: Services, provider: str, request: Request, body: bytes
) -> None:
    try:
        verify(await run_in_threadpool(_secret, services, provider), request.headers, body)
    except TileworkError:
        # The provider may have rotated its secret since we asked: ask once more.
        fresh = await run_in_threadpool(_secret, services, provider, True)
        verify(fresh, request.headers, body)


async def _verify_fal(services: Services, provider: str, request: Request, body: bytes) -> None:
    try:
        keys = await run_in_threadpool(_fal_keys, services, provider)
        if verify_fal_webhook(keys, request.headers, body):
            return
        # A key published since the document was cached: read it once more.
        keys = await run_in_threadpool(_fal_keys, services, provider, True)
    except TileworkError as error:
        # Keys that cannot be read verify nothing; the task polls the provider meanwhile.
        log.warning("provider_keys_unreadable", provider=provider, error=error.message)
        keys = []
    if not verify_fal_webhook(keys, request.headers, body):
        raise TileworkError(ErrorCode.UNAUTHORIZED, "the callback's fal signature does not verify")


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
    with _cache_lock:
        if fresh or provider not in _secrets:
            settings = services.settings
            client = ReplicateClient(provider, settings.providers[provider], settings)
            try:
                _secrets[provider] = client.webhook_secret()
            finally:
                client.close()
        return _secrets[provider]


def _fal_keys(services: Services, provider: str, fresh: bool = False) -> list[bytes]:
    """The Ed25519 keys of the provider's JWKS document, kept at most a day (less when
    ``fresh``: read again now)."""
    with _cache_lock:
        cached = _keys.get(provider)
        if fresh or cached is None or time.monotonic() - cached[0] > JWKS_CACHE_SECONDS:
            settings = services.settings
            configured = settings.providers[provider]
            http = ProviderHttp(provider, configured, settings, "Key")
            try:
                document = http.call("GET", str(configured.jwks_url))
            finally:
                http.close()
            cached = (
                time.monotonic(),
                jwks_public_keys(document if isinstance(document, dict) else {}),
            )
            _keys[provider] = cached
        return cached[1]
