"""W3C trace context: a ``traceparent`` given on submit is kept with the job, bound to every
log line of its tasks, and sent on with the provider calls they make."""

from __future__ import annotations

import re
from contextvars import ContextVar

# version-trace id-parent id-flags, lower-case hex; all-zero ids are invalid.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")

# The traceparent of the task being run in this context (None: none was given).
current_traceparent: ContextVar[str | None] = ContextVar("traceparent", default=None)


def valid_traceparent(value: str) -> bool:
    return bool(_TRACEPARENT.match(value)) and not value.startswith("ff")
