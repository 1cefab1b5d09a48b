"""A static file server on 127.0.0.1, for inputs given as URLs."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    on_get: Callable[[str], None] | None = None

    def do_GET(self) -> None:
        if self.on_get is not None:
            self.on_get(self.path)
        super().do_GET()

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def serving(directory: Path, on_get: Callable[[str], None] | None = None) -> Iterator[str]:
    """Serve ``directory`` for the length of the block; yields its base URL. ``on_get`` sees
    the path of every GET."""
    handler = partial(
        type("Handler", (_Quiet,), {"on_get": staticmethod(on_get) if on_get else None}),
        directory=str(directory),
    )
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
