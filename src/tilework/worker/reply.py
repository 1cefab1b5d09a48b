"""A task's outcome as it crosses the pipe from the child (exceptions do not pickle reliably)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict


@dataclass(frozen=True)
class Reply:
    """Either ``result``, an error, or ``deferred`` (``{"state", "seconds"}``: run again
    later), with the step timings measured either way."""

    result: JsonDict | None = None
    error_code: str | None = None
    error_message: str = ""
    error_details: JsonDict = field(default_factory=dict)
    retryable: bool = True
    timings: dict[str, float] = field(default_factory=dict)
    deferred: JsonDict | None = None

    @classmethod
    def failure(cls, error: TileworkError, timings: dict[str, float] | None = None) -> Reply:
        return cls(
            None, error.code.value, error.message, error.details, error.retryable, timings or {}
        )

    def error(self) -> TileworkError:
        return TileworkError(
            ErrorCode(self.error_code or ErrorCode.PIPELINE_ERROR),
            self.error_message,
            self.error_details,
            retryable=self.retryable,
        )
