"""Liveness and readiness."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tilework.api.state import ApiState, api_state
from tilework.core.errors import ErrorCode, TileworkError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(state: Annotated[ApiState, Depends(api_state)]) -> dict[str, str]:
    if not state.database.ping():
        raise TileworkError(ErrorCode.UNAVAILABLE, "the job database is unreachable")
    return {"status": "ready"}
