"""Stable error codes and the one exception that carries them.

Every failure a user can see, whether an HTTP answer or a failed job, is an ``ErrorCode`` with a
message. The tree is flat on purpose: one root exception, data rather than subclasses.

    TileworkError(code, message, details, retryable)
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION_FAILED = "validation_failed"
    DOWNLOAD_FAILED = "download_failed"
    SSRF_BLOCKED = "ssrf_blocked"
    UNSUPPORTED_FORMAT = "unsupported_format"
    IMAGE_TOO_LARGE = "image_too_large"
    CORRUPT_IMAGE = "corrupt_image"
    PIPELINE_ERROR = "pipeline_error"
    TIMEOUT = "timeout"
    UPLOAD_FAILED = "upload_failed"
    PROVIDER_FAILED = "provider_failed"
    PROVIDER_MISCONFIGURED = "provider_misconfigured"  # the operator's token, model or credit
    CANCELED = "canceled"
    QUEUE_FULL = "queue_full"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    JOB_NOT_FINISHED = "job_not_finished"  # deleting a job that is still queued or running
    JOB_NOT_RETRYABLE = "job_not_retryable"  # retrying a job that did not fail or was canceled
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal_error"


# Failures that cannot get better by running the same task again: the input itself is at fault.
PERMANENT_CODES = frozenset(
    {
        ErrorCode.VALIDATION_FAILED,
        ErrorCode.SSRF_BLOCKED,
        ErrorCode.UNSUPPORTED_FORMAT,
        ErrorCode.IMAGE_TOO_LARGE,
        ErrorCode.CORRUPT_IMAGE,
        ErrorCode.CANCELED,
        ErrorCode.PROVIDER_MISCONFIGURED,
    }
)

HTTP_STATUS = {
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.SSRF_BLOCKED: 400,
    ErrorCode.UNSUPPORTED_FORMAT: 415,
    ErrorCode.IMAGE_TOO_LARGE: 413,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.CORRUPT_IMAGE: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.JOB_NOT_FINISHED: 409,
    ErrorCode.JOB_NOT_RETRYABLE: 409,
    ErrorCode.QUEUE_FULL: 503,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INSUFFICIENT_CREDITS: 402,
    ErrorCode.UNAVAILABLE: 503,
}


class TileworkError(Exception):
    """A failure with a stable code, a human message and optional structured details."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.retryable = code not in PERMANENT_CODES if retryable is None else retryable

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "details": self.details}


def field_name(loc: Sequence[Any]) -> str:
    """A location in a request as its sender names it: ``steps[1].params.scale``."""
    named = ""
    for part in loc:
        if isinstance(part, int):
            named += f"[{part}]"
        else:
            named += f".{part}" if named else str(part)
    return named


def field_failures(found: Sequence[tuple[Sequence[Any], str]]) -> TileworkError:
    """One ``validation_failed`` naming each offending field (a location and what is wrong)."""
    named = [{"field": field_name(loc), "message": message} for loc, message in found]
    fields = ", ".join(each["field"] or "body" for each in named)
    return TileworkError(
        ErrorCode.VALIDATION_FAILED, f"invalid request: {fields}", {"errors": named}
    )
