"""A scripted Replicate-style provider on a loopback address: just enough of the prediction API
for ``ops/upscale/remote.py`` (create a prediction, read it back), each prediction succeeding at
once with the output URL the test names. A hostile provider is one whose output points where
this server must not go.

It records every request, so a test can show the provider itself was reached (its own host is
trusted) before showing where the server refused to go next.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

CREATE = re.compile(r"^/v1/models/[\w.-]+/[\w.-]+/predictions$")
READ = re.compile(r"^/v1/predictions/(?P<id>[\w-]+)$")


@dataclass
class Provider:
    url: str
    output: str  # what every prediction's ``output`` names
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    traceparents: list[str | None] = field(default_factory=list)  # each request's header
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, method: str) -> list[str]:
        """The paths of the ``method`` requests so far."""
        with self.lock:
            return [path for seen, path in self.requests if seen == method]


@contextmanager
def serving(output: str, host: str = "127.0.0.2") -> Iterator[Provider]:
    provider = Provider("", output)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._record()
            self.rfile.read(int(self.headers.get("content-length") or 0))
            if CREATE.match(self.path):
                # Starting, as Replicate answers a create: the output comes with the read.
                self._json(201, {"id": f"p{len(provider.received('POST'))}", "status": "starting"})
            else:
                self._json(404, {"detail": "not found"})

        def do_GET(self) -> None:
            self._record()
            read = READ.match(self.path)
            if read:
                answer = {"id": read["id"], "status": "succeeded", "output": provider.output}
                self._json(200, answer)
            else:
                self._json(404, {"detail": "not found"})

        def _record(self) -> None:
            with provider.lock:
                provider.requests.append((self.command, self.path))
                provider.traceparents.append(self.headers.get("traceparent"))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    with http.server.ThreadingHTTPServer((host, 0), Handler) as server:
        server.daemon_threads = True
        provider.url = f"http://{host}:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield provider
        finally:
            server.shutdown()
