"""A cap on request bodies, before any route reads them: JSON bodies are small, so anything
past ``max_request_bytes`` is refused with 413. Uploads stream to disk under their own,
larger cap (``max_upload_bytes``) and are left to their route. Predictions may carry their
image as a base64 ``data:`` URI, so theirs is the upload cap in base64, plus room for JSON; a
file upload (multipart) is the upload cap plus room for its other parts."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tilework.api.errors import error_response
from tilework.api.fal.errors import fal_error
from tilework.api.replicate.problems import problem
from tilework.core.errors import ErrorCode, TileworkError

UNCAPPED_PATHS = ("/v1/uploads",)
# fal's storage upload: the bytes of a file, PUT to the URL its initiation signed.
UNCAPPED_PUTS = ("/fal/storage/upload/",)
BODYLESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # no route of ours reads their body
DATA_URI_PATHS = ("/v1/predictions", "/v1/models/", "/fal/")
MULTIPART_PATH = "/v1/files"
REPLICATE_PATHS = ("/v1/predictions", "/v1/models/", MULTIPART_PATH, "/v1/deployments/")
FAL_PATHS = ("/fal/",)
JSON_ROOM_BYTES = 1 << 20


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_data_uri_bytes = max_upload_bytes * 4 // 3 + JSON_ROOM_BYTES
        self.max_multipart_bytes = max_upload_bytes + JSON_ROOM_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] in BODYLESS_METHODS
            or path.startswith(UNCAPPED_PATHS)
            or (scope["method"] == "PUT" and path.startswith(UNCAPPED_PUTS))
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope["headers"])
        if path == MULTIPART_PATH:
            await self._stream_multipart(scope, receive, send, declared)
            return
        limit = self.max_data_uri_bytes if path.startswith(DATA_URI_PATHS) else self.max_bytes
        if declared is not None:
            # The server reads exactly the declared bytes, so the declaration is the size:
            # only bodies without one (chunked) need counting. Submits take the quick path.
            if declared > limit:
                await _refuse(scope, receive, send, limit)
            else:
                await self.app(scope, receive, send)
            return
        await self._buffer_chunked(scope, receive, send, limit)

    async def _buffer_chunked(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Chunked: read it all here (at most ``limit``), then hand the app the same body."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > limit:
                await _refuse(scope, receive, send, limit)
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

    async def _stream_multipart(
        self, scope: Scope, receive: Receive, send: Send, declared: int | None
    ) -> None:
        """A file upload goes on to its route as it arrives (the parser spools it to disk),
        counted: past the cap, the next read raises ``payload_too_large`` in the route."""
        limit = self.max_multipart_bytes
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
            return message

        await self.app(scope, counted, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """413 in the words of the API the path belongs to: Replicate's, fal's or tilework's."""
    error = too_large(limit)
    path = scope.get("path", "")
    if path.startswith(REPLICATE_PATHS):
        answer = problem(error)
    elif path.startswith(FAL_PATHS):
        answer = fal_error(error)
    else:
        answer = error_response(error)
    await answer(scope, receive, send)


def too_large(limit: int) -> TileworkError:
    return TileworkError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"request bodies are limited to {limit} bytes",
        {"max_bytes": limit},
    )


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
