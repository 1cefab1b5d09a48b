"""Errors as Replicate words them: ``{"title", "detail", "status", "code"}``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from tilework.api.errors import error_headers, field_errors, unreadable_body
from tilework.core.errors import TileworkError


class Problem(BaseModel):
    """An error as Replicate words it, plus tilework's stable code."""

    title: str
    detail: str
    status: int
    code: str
    errors: list[dict[str, Any]] | None = Field(None, description="Each invalid field.")


# Creates name URLs (the image, the webhook): one tilework refuses to reach is 400.
REFUSED_URL: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A URL it names is refused (ssrf_blocked)."}
}


class ProblemRoute(APIRoute):
    """Routes whose errors read as Replicate's (``title``, ``detail``, ``status``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return problem(field_errors(exc, await request.body()))
            except HTTPException as exc:
                if exc.status_code != 400:
                    raise
                return problem(unreadable_body(exc))
            except TileworkError as error:
                return problem(error)

        return handle


def problem(error: TileworkError) -> JSONResponse:
    body = {
        "title": error.code.value.replace("_", " "),
        "detail": error.message,
        "status": error.http_status,
        "code": error.code.value,
        **({"errors": error.details["errors"]} if "errors" in error.details else {}),
    }
    return JSONResponse(body, status_code=error.http_status, headers=error_headers(error))
