"""A cap on request bodies, before any route reads them: JSON bodies are small, so anything
past ``max_request_bytes`` is refused with 413. Uploads stream to disk under their own,
larger cap (``max_upload_bytes``) and are left to their route. Predictions may carry their
image as a base64 ``data:`` URI, so theirs is the upload cap in base64, plus room for JSON."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tilework.core.errors import ErrorCode, TileworkError

UNCAPPED_PATHS = ("/v1/uploads",)
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # no route of ours reads their body
DATA_URI_PATHS = ("/v1/predictions", "/v1/models/")
JSON_ROOM_BYTES = 1 << 20


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_data_uri_bytes = max_upload_bytes * 4 // 3 + JSON_ROOM_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] in BODYLESS_METHODS
            or path.startswith(UNCAPPED_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        limit = self.max_data_uri_bytes if path.startswith(DATA_URI_PATHS) else self.max_bytes
        declared = _content_length(scope["headers"])
        if declared is not None:
            # The server reads exactly the declared bytes, so the declaration is the size:
            # only bodies without one (chunked) need counting. Submits take the quick path.
            if declared > limit:
                await self._refuse(send, limit)
            else:
                await self.app(scope, receive, send)
            return
        # Chunked: read it all here (at most max_bytes), then hand the app the same body.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > limit:
                await self._refuse(send, limit)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, limit: int) -> None:
        error = TileworkError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"request bodies are limited to {limit} bytes",
            {"max_bytes": limit},
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
