"""How a user points fal's official clients at a tilework server instead of fal."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from tests.support.server import ServerProcess


def fal_client_env(server: ServerProcess, key: str) -> dict[str, str]:
    """The environment of a client process: fal's key and hosts (the Python client's; the
    JavaScript one is configured in code), and trust in the server's CA (Python and Node)."""
    assert server.tls is not None, "fal's Python client speaks HTTPS only"
    host = urlsplit(server.url).netloc
    return {
        **os.environ,
        **server.tls.trusting_env(),
        "FAL_KEY": key,
        "FAL_QUEUE_RUN_HOST": f"{host}/fal",
        "FAL_RUN_HOST": f"{host}/fal/run",
    }
