"""``Prefer: wait=N`` (RFC 7240): a submit that answers with the finished job when it is quick.

A client that wants one request, not submit-then-poll, waits up to N seconds
(``tilework.service.waits``). The job is queued and run exactly as any other; only the answer
waits.
"""

from __future__ import annotations

import re

from tilework.core.errors import ErrorCode, TileworkError

MAX_WAIT_SECONDS = 60.0
WAIT = re.compile(r"^wait(?:\s*=\s*(?P<seconds>[^\s;]*))?$", re.IGNORECASE)


def preferred_wait(prefer: str | None) -> float | None:
    """Seconds to wait from a ``Prefer`` header, None without a ``wait`` preference.

    Other preferences in the header are left alone, as RFC 7240 asks; a ``wait`` this server
    cannot honour (not a number, not within 1–60) is refused rather than silently dropped.
    """
    if prefer is None:
        return None
    for item in prefer.split(","):
        matched = WAIT.match(item.strip())
        if matched is None:
            continue
        text = matched.group("seconds")
        if text is None:
            return MAX_WAIT_SECONDS
        try:
            seconds = float(text.strip('"'))
        except ValueError:
            seconds = float("nan")
        if not 1 <= seconds <= MAX_WAIT_SECONDS:
            raise TileworkError(
                ErrorCode.VALIDATION_FAILED,
                f"Prefer: wait must be 1 to {MAX_WAIT_SECONDS:g} seconds, not {text!r}",
                {"errors": [{"field": "headers.prefer", "message": "wait out of range"}]},
            )
        return seconds
    return None
