"""A validation failure as tilework reports it: one ``validation_failed`` naming each field."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tilework.core.errors import TileworkError, field_failures


def invalid_fields(
    errors: Iterable[Mapping[str, Any]], prefix: tuple[str, ...] = ()
) -> TileworkError:
    """A failure naming each offending field, e.g. ``params.width``, from pydantic's errors
    (each with its ``loc`` and ``msg``); ``prefix`` says where the validated object sits."""
    return field_failures([((*prefix, *error["loc"]), error["msg"]) for error in errors])
