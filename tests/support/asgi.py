"""An httpx transport that hands each request to an ASGI app in this process, and streams the
answer back as the app sends it (server-sent events arrive live, and end when the app ends them
or the reader closes the response).

httpx's own ``ASGITransport`` is async and answers only once the app has finished, which an
event stream never does; starlette's ``TestClient`` is built on ``httpx2``, not the ``httpx``
the SDK uses. The app runs on an event loop of its own, on one thread, with its lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import httpx
from fastapi import FastAPI

REQUEST_CHUNK_BYTES = 64 << 10
START_TIMEOUT_SECONDS = 120.0
_END = object()  # after the last chunk of a response body


class AppTransport(httpx.BaseTransport):
    """``app`` behind an httpx transport; ``close()`` runs its lifespan's shutdown."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="app-loop", daemon=True)
        self._thread.start()
        self._lifespan = app.router.lifespan_context(app)
        self._call(self._lifespan.__aenter__())
        self._closed = False

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _Exchange(request)
        task = asyncio.run_coroutine_threadsafe(exchange.run(self._app), self._loop)
        status, headers = exchange.started.result(START_TIMEOUT_SECONDS)
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(exchange, self._loop, task),
            request=request,
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._call(self._lifespan.__aexit__(None, None, None))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class _Exchange:
    """One request's trip through the app: its scope, what it receives, what it sends."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.started: Future[tuple[int, list[tuple[bytes, bytes]]]] = Future()
        self.chunks: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.gone: asyncio.Event | None = None  # the reader closed the response

    def scope(self) -> dict[str, Any]:
        url = self.request.url
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?", 1)[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in self.request.headers.raw],
            "client": ("127.0.0.1", 50000),
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        }

    async def run(self, app: FastAPI) -> None:
        self.gone = asyncio.Event()
        body = self.request.read()  # the request's own iterator, whole (chunked stays chunked)
        step = REQUEST_CHUNK_BYTES
        pieces = [body[i : i + step] for i in range(0, len(body), step)] or [b""]

        async def receive() -> dict[str, Any]:
            if pieces:
                piece = pieces.pop(0)
                return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
            assert self.gone is not None
            await self.gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    self.chunks.put(bytes(message["body"]))
                if not message.get("more_body", False):
                    self.chunks.put(_END)

        try:
            await app(self.scope(), receive, send)
        except BaseException as exc:
            if not self.started.done():
                self.started.set_exception(exc)  # raised where the request was made
            raise
        finally:
            self.chunks.put(_END)


class _Body(httpx.SyncByteStream):
    def __init__(
        self, exchange: _Exchange, loop: asyncio.AbstractEventLoop, task: Future[None]
    ) -> None:
        self._exchange, self._loop, self._task = exchange, loop, task

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self._exchange.chunks.get()) is not _END:
            assert isinstance(chunk, bytes)
            yield chunk
        # An error the app raised after it began to answer is the test's error too.
        error = self._task.exception(START_TIMEOUT_SECONDS)
        if error is not None:
            raise error

    def close(self) -> None:
        # The reader is done: tell a still-streaming app the client went away, as a closed
        # connection would, and let it finish.
        gone = self._exchange.gone
        if gone is not None and not self._task.done():
            self._loop.call_soon_threadsafe(gone.set)
            with contextlib.suppress(Exception):
                self._task.result(10)
