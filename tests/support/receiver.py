"""A webhook receiver on 127.0.0.1: records every request and answers as a test scripts it."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival


# (path, how many requests this path has had before) -> (status, extra headers)
Answer = Callable[[str, int], tuple[int, dict[str, str]]]


@dataclass
class Receiver:
    url: str
    answer: Answer
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 30) -> list[Received]:
        """The first ``count`` requests (to ``path``), waiting up to ``timeout`` for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received(path)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{len(self.received(path))} requests arrived, wanted {count}")


def _always_ok(_path: str, _seen: int) -> tuple[int, dict[str, str]]:
    return 200, {}


@contextmanager
def receiving(answer: Answer = _always_ok) -> Iterator[Receiver]:
    receiver = Receiver("", answer)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                seen = sum(1 for r in receiver.requests if r.path == self.path)
                receiver.requests.append(
                    Received(
                        self.path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.time(),
                    )
                )
            status, headers = receiver.answer(self.path, seen)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield receiver
        finally:
            server.shutdown()
