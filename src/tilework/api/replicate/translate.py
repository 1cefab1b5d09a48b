"""Replicate's requests as tilework's: a model reference as an operation, ``input.image`` as a
job input, webhook filters as job events, and tilework's field names back as Replicate's."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import EventType
from tilework.ops.registry import BUILT_IN_OWNER

OWNER = BUILT_IN_OWNER
# Cancel-After: Go-style durations (30s, 5m, 1h30m, 1.5h, 500ms) or plain seconds.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_CANCEL_AFTER_SECONDS = 7 * 86400.0
# Replicate's webhook filters, as the job events each one asks for.
FILTERS: dict[str, list[EventType]] = {
    "start": [EventType.STARTED],
    "output": [EventType.SUCCEEDED],
    "logs": [EventType.PROGRESS],
    "completed": [EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELED],
}
Filter = Literal["start", "output", "logs", "completed"]


class PredictionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(None, description="The operation, as upscale or tilework/upscale.")
    input: dict[str, Any] = Field(default_factory=dict)
    webhook: AnyHttpUrl | None = None
    webhook_events_filter: list[Filter] | None = None
    stream: bool | None = None  # accepted for compatibility; every prediction has urls.stream


def cancel_after_seconds(value: str | None) -> float | None:
    """The ``Cancel-After`` header in seconds (None when absent)."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            raise invalid("Cancel-After", "a duration such as 30s, 5m or 1h30m") from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not 0 < seconds <= MAX_CANCEL_AFTER_SECONDS:
        raise invalid("Cancel-After", f"more than 0 and at most {MAX_CANCEL_AFTER_SECONDS:g} s")
    return seconds


def split_input(body: PredictionCreate, needs_image: bool) -> tuple[str | None, dict[str, Any]]:
    """The prediction's ``image`` (None: none given, for an operation that takes none), and
    the rest of its ``input``: the operation's params."""
    params = dict(body.input)
    image = params.pop("image", None)
    if image is None and not needs_image:
        return None, params
    if not isinstance(image, str) or not image:
        raise invalid("input.image", "give the image as a URL or a data: URI")
    return image, params


def job_webhook(body: PredictionCreate) -> dict[str, Any] | None:
    if body.webhook is None:
        return None
    filters: list[str] = list(body.webhook_events_filter or FILTERS)
    events = sorted({event.value for name in filters for event in FILTERS[name]})
    return {"url": str(body.webhook), "events": events, "format": "replicate"}


def as_input(error: TileworkError) -> TileworkError:
    """Name fields as Replicate's callers know them: ``input.scale``, not ``params.scale``."""
    errors = error.details.get("errors")
    if not errors:
        return error
    renamed = [{**item, "field": _replicate_field(str(item.get("field", "")))} for item in errors]
    message = re.sub(r"\bparams\.", "input.", error.message)
    return TileworkError(error.code, message, {**error.details, "errors": renamed})


def invalid(field: str, message: str) -> TileworkError:
    return TileworkError(
        ErrorCode.VALIDATION_FAILED,
        f"invalid request: {field}",
        {"errors": [{"field": field, "message": message}]},
    )


def _replicate_field(field: str) -> str:
    if field == "input.url":  # the job's input URL was the prediction's image
        return "input.image"
    if field == "webhook.url":
        return "webhook"
    if field.startswith("steps"):  # a job of steps: the steps are a field of the input
        return f"input.{field}"
    return re.sub(r"^params\.", "input.", field)
