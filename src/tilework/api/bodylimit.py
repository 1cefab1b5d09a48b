"""A cap on request bodies, before any route reads them: JSON bodies are small, so anything
past ``max_request_bytes`` is refused with 413. Uploads stream to disk under their own,
larger cap (``max_upload_bytes``) and are left to their route."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tilework.core.errors import ErrorCode, TileworkError

UNCAPPED_PATHS = ("/v1/uploads",)


class _TooLargeError(Exception):
    pass


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNCAPPED_PATHS):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope["headers"])
        if declared is not None:
            # The server reads exactly the declared bytes, so the declaration is the size:
            # only bodies without one (chunked) need counting. Submits take the quick path.
            if declared > self.max_bytes:
                await self._refuse(send)
            else:
                await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLargeError
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        error = TileworkError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"request bodies are limited to {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes},
        )
        body = json.dumps({"error": error.to_dict()}).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
