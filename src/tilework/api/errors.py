"""Every error leaves the API as ``{"error": {"code", "message", "details"}}``, never a trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tilework.core.errors import ErrorCode, TileworkError
from tilework.service.validation import invalid_fields

log = structlog.get_logger("tilework.api")

QUEUE_FULL_RETRY_AFTER_SECONDS = 5
_HTTP_CODES = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}


def error_headers(error: TileworkError) -> dict[str, str]:
    """When to come back (503, 429), or how to authenticate (401)."""
    if error.code in (ErrorCode.QUEUE_FULL, ErrorCode.UNAVAILABLE):
        return {"Retry-After": str(QUEUE_FULL_RETRY_AFTER_SECONDS)}
    if error.code is ErrorCode.RATE_LIMITED:
        return {"Retry-After": str(error.details.get("retry_after_seconds", 1))}
    if error.code is ErrorCode.UNAUTHORIZED:
        return {"WWW-Authenticate": 'Bearer realm="tilework"'}
    return {}


def error_response(error: TileworkError) -> JSONResponse:
    body = {"error": error.to_dict()}
    return JSONResponse(body, status_code=error.http_status, headers=error_headers(error))


def unreadable_body(exc: HTTPException) -> TileworkError:
    """A body the framework could not parse (not JSON): invalid, like any other bad body."""
    return TileworkError(
        ErrorCode.VALIDATION_FAILED,
        f"invalid request: {exc.detail}",
        {"errors": [{"field": "body", "message": str(exc.detail)}]},
    )


def field_errors(exc: RequestValidationError, body: bytes = b"") -> TileworkError:
    """A request that failed validation, naming each offending field, e.g. ``webhook.url``;
    a body that is not JSON at all, where it breaks (``body``: the request's bytes)."""
    errors = exc.errors()
    broken = next((error for error in errors if error.get("type") == "json_invalid"), None)
    if broken is not None:
        return invalid_json(broken, body)
    return invalid_fields({**error, "loc": _location(error["loc"])} for error in errors)


def invalid_json(error: Mapping[str, Any], body: bytes) -> TileworkError:
    """Where a body stops being JSON, as a line and column: FastAPI reports the character
    offset where a field name would be, which reads like a field called "22"."""
    position = error["loc"][-1] if isinstance(error["loc"][-1], int) else 0
    before = body.decode("utf-8", errors="replace")[:position]
    line = before.count("\n") + 1
    column = position - (before.rfind("\n") + 1) + 1
    reason = (error.get("ctx") or {}).get("error") or error.get("msg", "not JSON")
    message = f"invalid JSON at line {line}, column {column}: {reason}"
    return TileworkError(
        ErrorCode.VALIDATION_FAILED,
        message,
        {
            "errors": [{"field": "body", "message": message}],
            "line": line,
            "column": column,
            "position": position,
        },
    )


def _location(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # FastAPI prefixes body fields with "body"; the field path alone is what a caller can act on.
    return loc[1:] if loc and loc[0] == "body" else loc


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TileworkError)
    async def _tilework(_: Request, exc: TileworkError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(field_errors(exc, await request.body()))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:
            return error_response(unreadable_body(exc))
        code = _HTTP_CODES.get(exc.status_code, ErrorCode.INTERNAL_ERROR)
        body: dict[str, Any] = {
            "error": {"code": code.value, "message": str(exc.detail), "details": {}}
        }
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("request_failed", path=request.url.path, error=repr(exc), exc_info=exc)
        error = TileworkError(ErrorCode.INTERNAL_ERROR, "an internal error occurred")
        return error_response(error)
