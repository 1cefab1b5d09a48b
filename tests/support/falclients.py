"""How a user points fal's official clients at a tilework server instead of fal."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
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


def fal_signed_message(headers: Mapping[str, str], body: bytes) -> bytes:
    """What a fal webhook's signature covers, written out from fal's scheme (not taken from
    tilework): request id, user id, timestamp and the body's SHA-256, one a line."""
    return "\n".join(
        [
            headers["x-fal-webhook-request-id"],
            headers["x-fal-webhook-user-id"],
            headers["x-fal-webhook-timestamp"],
            hashlib.sha256(body).hexdigest(),
        ]
    ).encode()
