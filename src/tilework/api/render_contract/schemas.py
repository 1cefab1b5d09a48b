"""The render contract's bodies as models, for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class RenderSubmitted(BaseModel):
    job_id: str
    status: Literal["processing"]
    poll_url: str


class RenderStatus(BaseModel):
    """``processing``; ``completed`` with ``result_url``; ``failed`` with its error."""

    job_id: str
    status: Literal["processing", "completed", "failed"]
    result_url: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class RenderError(BaseModel):
    """``validation_failed`` (with each field's message), ``queue_full``, ``job_not_found``."""

    error: str
    details: dict[str, str] | None = None
