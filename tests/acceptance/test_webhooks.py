"""Webhooks from a real server's own sender thread: every event of a job arrives signed
(checked with the official ``standardwebhooks``), in order, once each, and the deliveries
listing agrees. The rules in depth: ``tests/api/test_webhooks.py``; the delivery rows on both
databases: ``tests/store/test_events.py``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from tests.support.receiver import receiving
from tests.support.server import ServerProcess
from tilework.client import Client


def test_every_event_arrives_signed_in_order(loopback_server: ServerProcess, photo: Path) -> None:
    server = loopback_server  # the receiver is on loopback
    with server.tenant() as client, receiving() as receiver:
        secret = client._http.get("/v1/webhooks/default/secret").json()["key"]
        key = client.upload(photo)["key"]
        body = {
            "operation": "test_fanout",
            "input": {"key": key},
            "params": {"tasks": 6, "seconds": 0.25},
            "webhook": {"url": f"{receiver.url}/hook"},
        }
        job = client._http.post("/v1/jobs", json=body).json()
        assert client.wait(job["id"], timeout=60)["status"] == "succeeded"
        items = settled(client, job["id"])
        requests = receiver.wait_for(len(items))
    bodies = sorted(
        (Webhook(secret).verify(r.body, r.headers) for r in requests),
        key=lambda body: body["event_id"],
    )
    types = [body["type"] for body in bodies]
    assert types[0] == "job.started" and types[-1] == "job.succeeded"
    assert set(types[1:-1]) <= {"job.progress"}, types
    assert all(body["data"]["id"] == job["id"] for body in bodies)
    assert {r.headers["webhook-id"] for r in requests} == {item["id"] for item in items}
    assert len(requests) == len(items) >= 2
    assert all(item["status"] == "delivered" and item["attempts"] == 1 for item in items)


def settled(client: Client, job_id: str) -> list[dict[str, Any]]:
    """The job's deliveries once its last one (of its ending event) has ended."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = client._http.get(f"/v1/jobs/{job_id}/deliveries").json()[
            "items"
        ]
        ended = any(item["event"] == "succeeded" for item in items)
        if ended and all(item["completed_at"] is not None for item in items):
            return items
        time.sleep(0.05)
    raise AssertionError("the deliveries did not settle")
