"""Hostile HTTP sources on a loopback address: redirects, trickles, endless and bomb bodies.

Each route is a function that writes the whole answer through the request handler; the
server counts the requests each path got, so a test can show that a blocked target was
never reached.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


@dataclass
class Source:
    url: str
    hits: Counter[str] = field(default_factory=Counter)


def body(data: bytes, content_type: str = "image/png", **headers: str) -> Route:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", content_type)
        handler.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            handler.send_header(name.replace("_", "-"), value)
        handler.end_headers()
        handler.wfile.write(data)

    return answer


def redirect(location: str, status: int = 302) -> Route:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("location", location)
        handler.send_header("content-length", "0")
        handler.end_headers()

    return answer


def trickle(every_seconds: float) -> Route:
    """Slow loris: headers at once, then one byte of body every ``every_seconds``, forever."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "image/png")
        handler.send_header("content-length", str(1 << 30))
        handler.end_headers()
        while True:
            handler.wfile.write(b"\0")
            handler.wfile.flush()
            time.sleep(every_seconds)

    return answer


def endless_chunks(chunk_bytes: int = 1 << 16) -> Route:
    """A chunked body that never ends."""

    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "image/png")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        chunk = b"%x\r\n" % chunk_bytes + b"\x89" * chunk_bytes + b"\r\n"
        while True:
            handler.wfile.write(chunk)

    return answer


def gzip_bomb(decoded_bytes: int) -> Route:
    """``decoded_bytes`` of zeros, gzip-compressed (about a thousandth of that on the wire)."""
    compressed = gzip.compress(bytes(decoded_bytes), compresslevel=9)
    return body(compressed, content_encoding="gzip")


@contextmanager
def serving(routes: dict[str, Route], host: str = "127.0.0.1", port: int = 0) -> Iterator[Source]:
    source = Source("")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            source.hits[self.path] += 1
            route = routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            # The client giving up on us mid-answer is what these tests want to see.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                route(self)

        def log_message(self, *_: object) -> None:
            pass

    with http.server.ThreadingHTTPServer((host, port), Handler) as server:
        server.daemon_threads = True
        source.url = f"http://{host}:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield source
        finally:
            server.shutdown()
