"""/metrics: Prometheus's scrape (``service.metrics`` says where each metric comes from)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices
from tilework.api.v1 import schemas
from tilework.service.access import require_admin
from tilework.service.metrics import CONTENT_TYPE, scrape

router = APIRouter(tags=["operators"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."},
        401: {"model": schemas.ErrorBody, "description": "Neither the token nor a key."},
        403: {"model": schemas.ErrorBody, "description": "A key that is not an admin's."},
    },
)
async def metrics(
    services: AppServices, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Every metric, read from the database now: an admin key or ``TILEWORK_METRICS_TOKEN``
    as the bearer token."""
    token = services.settings.metrics_token
    scheme, _, given = (authorization or "").partition(" ")
    is_token = (
        token is not None
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())
    )
    if not is_token:
        require_admin(await services.authenticator.authenticate(authorization))
    return Response(await run_in_threadpool(scrape, services), media_type=CONTENT_TYPE)
