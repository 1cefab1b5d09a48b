"""The official ``fal-client`` against a tilework server, unchanged: run by
``tests/acceptance/test_fal.py`` in a process of its own, since the client reads its hosts
(``FAL_QUEUE_RUN_HOST``, ``FAL_RUN_HOST``) when it is imported, and trusts the server's CA
through ``SSL_CERT_FILE``. It prints what it saw as one JSON object; the test checks it."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import fal_client

RESIZE = "tilework/resize"


def kinds(updates: list[Any]) -> list[str]:
    return [type(update).__name__ for update in updates]


def http_error(call: Any) -> dict[str, Any]:
    try:
        call()
    except fal_client.FalClientHTTPError as error:
        return {
            "status": error.status_code,
            "error_type": error.error_type,
            "message": error.message,
        }
    return {"status": None}


def main() -> None:
    photo = fal_client.encode_file(os.environ["PHOTO"])  # a data: URI; uploads go to fal's host
    seen: dict[str, Any] = {}

    updates: list[Any] = []
    result = fal_client.subscribe(
        RESIZE,
        {"image_url": photo, "width": 8, "format": "png"},
        with_logs=True,
        on_queue_update=updates.append,
    )
    logs = [line["message"] for update in updates for line in (getattr(update, "logs", None) or [])]
    seen["subscribe"] = {"updates": kinds(updates), "logs": logs, "images": result["images"]}

    handle = fal_client.submit(RESIZE, {"image_url": photo, "width": 6})
    for _ in handle.iter_events(with_logs=True, interval=0.05):
        pass
    status = fal_client.status(RESIZE, handle.request_id, with_logs=True)
    seen["submit"] = {
        "request_id": handle.request_id,
        "status": type(status).__name__,
        "metrics": getattr(status, "metrics", None),
        "result": fal_client.result(RESIZE, handle.request_id),
    }

    slow = fal_client.submit("tilework/test_sleep", {"image_url": photo, "seconds": 60})
    deadline = time.monotonic() + 60
    while not isinstance(slow.status(), fal_client.InProgress) and time.monotonic() < deadline:
        time.sleep(0.05)
    slow.cancel()
    ended = slow.status()
    seen["cancel"] = {
        "status": type(ended).__name__,
        "error_type": getattr(ended, "error_type", None),
        "result": http_error(slow.get),
        "again": http_error(slow.cancel),
    }

    hooked = fal_client.submit(
        RESIZE, {"image_url": photo, "width": 5}, webhook_url=os.environ["WEBHOOK_URL"]
    )
    seen["webhook"] = {"request_id": hooked.request_id}

    seen["invalid"] = http_error(
        lambda: fal_client.submit(RESIZE, {"image_url": photo, "width": -3})
    )
    seen["unknown"] = http_error(lambda: fal_client.submit("tilework/paint", {"image_url": photo}))
    seen["run"] = fal_client.run(RESIZE, {"image_url": photo, "width": 7})
    json.dump(seen, sys.stdout)


if __name__ == "__main__":
    main()
