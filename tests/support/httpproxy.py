"""An HTTP reverse proxy on 127.0.0.1 in front of a real server, that can slow request bodies
down and answer the next few requests of a method with an error of its own: a slow or flaky
object store (the S3 server behind it) or provider (a tilework server) on demand, or answer 429
to uploads past a number at once, as a hosted store does to one client that sends too many.

Used by the upload tests, by the provider failure tests and by ``bench/palette.py``, where it
makes one upload take ~2 s and refuses uploads past a few at once.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CHUNK = 16 * 1024
INJECTED_ERROR = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
TOO_MANY = b"<Error><Code>SlowDown</Code><Message>too many uploads at once</Message></Error>"
# Hop-by-hop headers are the proxy's own business (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade"})


class HttpProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.put_bytes_per_second: float | None = None  # per connection, like a slow uplink
        self.failing: Counter[str] = Counter()  # method: how many more are answered `failure`
        self.failure = (503, INJECTED_ERROR)
        self.seen: Counter[str] = Counter()  # requests by method, failed ones included
        # Past this many PUTs at once, a PUT is answered 429 (None: no limit); ``refused``
        # counts those answers.
        self.max_concurrent_puts: int | None = None
        self.refused = 0
        self._puts = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HttpProxy:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def should_fail(self, method: str) -> bool:
        with self._lock:
            self.seen[method] += 1
            if self.failing[method] > 0:
                self.failing[method] -= 1
                return True
            return False

    def enter_put(self) -> bool:
        """Whether a PUT may go on now; if so, ``leave_put`` once it is done."""
        with self._lock:
            if self.max_concurrent_puts is not None and self._puts >= self.max_concurrent_puts:
                self.refused += 1
                return False
            self._puts += 1
            return True

    def leave_put(self) -> None:
        with self._lock:
            self._puts -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: HttpProxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._relay()

    def do_HEAD(self) -> None:
        self._relay()

    def do_PUT(self) -> None:
        proxy = self.server.proxy
        if not proxy.enter_put():
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(429, TOO_MANY, headers=[("Retry-After", "1")])
            return
        try:
            self._relay()
        finally:
            proxy.leave_put()

    def do_POST(self) -> None:
        self._relay()

    def do_DELETE(self) -> None:
        self._relay()

    def _relay(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        if proxy.should_fail(self.command):
            self.rfile.read(length)
            self._answer(*proxy.failure, headers=[])
            return
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    upstream.putheader(name, value)
            upstream.endheaders()
            self._forward_body(upstream, length, proxy.put_bytes_per_second)
            answer = upstream.getresponse()
            self._answer(answer.status, answer.read(), answer.getheaders())
        finally:
            upstream.close()

    def _forward_body(
        self, upstream: http.client.HTTPConnection, length: int, rate: float | None
    ) -> None:
        rate = rate if self.command == "PUT" else None
        started, sent = time.monotonic(), 0
        while sent < length:
            chunk = self.rfile.read(min(CHUNK, length - sent))
            if not chunk:
                break
            upstream.send(chunk)
            sent += len(chunk)
            if rate and (ahead := sent / rate - (time.monotonic() - started)) > 0:
                time.sleep(ahead)

    def _answer(self, status: int, payload: bytes, headers: list[tuple[str, str]]) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
