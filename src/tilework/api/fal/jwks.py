"""``/.well-known/jwks.json``: the public key fal-style webhooks are signed with, as fal
publishes its own, so a receiver written for fal verifies tilework's messages unchanged."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices
from tilework.core.falsigning import public_jwk
from tilework.store.secrets import fal_signing_key

router = APIRouter(tags=["fal"])


@router.get("/.well-known/jwks.json")
async def jwks(services: AppServices) -> dict[str, list[dict[str, Any]]]:
    """The key set (one Ed25519 key) that verifies ``X-Fal-Webhook-Signature``."""
    signing_key = await run_in_threadpool(fal_signing_key, services.database)
    return {"keys": [public_jwk(signing_key)]}
