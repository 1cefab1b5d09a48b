"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from tilework.api.dependencies import AppServices
from tilework.core.errors import ErrorCode, TileworkError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(services: AppServices) -> dict[str, str]:
    if not services.database.ping():
        raise TileworkError(ErrorCode.UNAVAILABLE, "the job database is unreachable")
    return {"status": "ready"}
