"""A second tilework server as the provider of hosted models, reached as both kinds: as
Replicate's API (``rep``) and as fal's queue (``fal``). Its models are tilework's operations
(``tilework/resize``, the tests' ``tilework/test_sleep``)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from tests.support.server import ServerProcess

ENDED = ("succeeded", "failed", "canceled")
# Each kind's name for the input image, as a tilework server of that kind reads it.
IMAGE_FIELDS = {"rep": "image", "fal": "image_url"}
# What the acceptance tier's consumer charges a key with credits for the provider's noop:
# Replicate's per request and per second of its measured run, fal's per billable unit.
CONSUMER_PRICES = {"rep": {"per_request": 2, "per_second": 10}, "fal": {"per_unit": 3}}


def provider_entries(provider: ServerProcess, **extra: Any) -> str:
    """``TILEWORK_PROVIDERS`` naming ``provider`` as ``rep`` and as ``fal``."""
    return json.dumps(
        {
            "rep": {"base_url": provider.url, "token": provider.api_key, **extra},
            "fal": {
                "kind": "fal",
                "base_url": f"{provider.url}/fal",
                "token": provider.api_key,
                "jwks_url": f"{provider.url}/.well-known/jwks.json",
                **extra,
            },
        }
    )


def inline(photo: Path) -> str:
    """The photo as a data URI: an image a model's input carries itself."""
    return "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()


def with_remote_request(server: ServerProcess, job_id: str, timeout: float = 30) -> dict[str, Any]:
    """The job once it shows the provider's request it waits on (``remote``)."""
    deadline = time.monotonic() + timeout
    while (job := server.http.get(f"/v1/jobs/{job_id}").json())["remote"] is None:
        assert time.monotonic() < deadline and job["status"] not in ENDED, job
        time.sleep(0.05)
    found: dict[str, Any] = job
    return found
