"""Errors as fal words them, and fal's ``Authorization: Key <key>``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from tilework.api.errors import error_headers, field_errors, unreadable_body
from tilework.api.fal.views import error_body
from tilework.core.errors import TileworkError
from tilework.core.keys import ApiKey
from tilework.service.access import require_role


class FalRoute(APIRoute):
    """Routes whose errors read as fal's (``detail``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return fal_error(field_errors(exc, await request.body()))
            except HTTPException as exc:
                if exc.status_code != 400:
                    raise
                return fal_error(unreadable_body(exc))
            except TileworkError as error:
                return fal_error(error)

        return handle


def fal_error(error: TileworkError) -> JSONResponse:
    status, body = error_body(error)
    headers = {**error_headers(error), "X-Fal-Error-Type": error.code.value}
    return JSONResponse(body, status_code=status, headers=headers)


async def fal_caller(request: Request) -> ApiKey:
    """The calling key: fal's clients send ``Authorization: Key <key>``; ``Bearer`` works too."""
    services = request.app.state.tilework
    scheme, _, secret = (request.headers.get("authorization") or "").partition(" ")
    bearer = f"Bearer {secret}" if scheme.lower() == "key" else f"{scheme} {secret}"
    key: ApiKey = await services.authenticator.authenticate(bearer)
    services.limits.take_for(key)
    return require_role(key, request.method)


FalCaller = Annotated[ApiKey, Depends(fal_caller)]
