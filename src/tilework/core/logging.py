"""Structured logs: one line per event, a stable ``event`` key, ids bound by the caller, and
the host on every line, so one job's lines can be followed across hosts (``tilework logs``)."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from tilework.core.settings import Settings


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"])
    )
    structlog.configure(
        processors=[
            # What a task's run bound (its job, task, tenant, traceparent) on every line it logs.
            structlog.contextvars.merge_contextvars,
            _add_host,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # libvips narrates every operation at INFO; only its warnings are news.
    logging.getLogger("pyvips").setLevel(max(level, logging.WARNING))


_HOST = socket.gethostname()


def _add_host(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.setdefault("host", _HOST)
    return event
