"""FastAPI dependencies: the process's services, the calling key, admin keys only."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tilework.core.keys import ApiKey
from tilework.service.access import require_admin, require_role
from tilework.service.services import Services


async def held_services(request: Request) -> Services:
    # async only so that FastAPI calls it in place: a plain function costs a trip through the
    # thread pool on every request.
    services: Services = request.app.state.tilework
    return services


async def caller(request: Request) -> ApiKey:
    """The calling key (``Authorization: Bearer <key>``, on every /v1 route); raises 401 for
    anything else, and 429 past the key's rate."""
    # The services straight from the app, not as a sub-dependency: this runs on every request.
    services: Services = request.app.state.tilework
    key = await services.authenticator.authenticate(request.headers.get("authorization"))
    services.limits.take_for(key)
    return require_role(key, request.method)


async def admin(key: Annotated[ApiKey, Depends(caller)]) -> ApiKey:
    return require_admin(key)


AppServices = Annotated[Services, Depends(held_services)]
Caller = Annotated[ApiKey, Depends(caller)]
Admin = Annotated[ApiKey, Depends(admin)]
