"""Webhooks out: Standard Webhooks signatures checked with the official package, against a real
receiver on 127.0.0.1, with the retry, redirect, 410 and 429 rules and the deliveries listing."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.databases import BACKENDS
from tests.receiver import Received, receiving
from tests.server import ServerProcess, running_server, uploaded_photo
from tilework.core.signatures import new_secret

CURRENT, PREVIOUS = new_secret(), new_secret()
SCHEDULE = [0.3, 0.3, 0.3]  # three retries, quickly: four attempts in all


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("webhooks"),
        request.param,
        webhook_secret=f"{CURRENT} {PREVIOUS}",  # mid-rotation: every message signed twice
        webhook_retry_seconds=json.dumps(SCHEDULE),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def image_key(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    return uploaded_photo(server, tmp_path_factory.mktemp("img"))


def submit(
    server: ServerProcess, image_key: str, webhook: dict[str, Any], **params: Any
) -> dict[str, Any]:
    body = {
        "operation": params.pop("operation", "test_fanout"),
        "input": {"key": image_key},
        "params": params,
        "webhook": webhook,
    }
    response = server.http.post(f"{server.url}/v1/jobs", json=body, timeout=30)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def deliveries(server: ServerProcess, job_id: str) -> list[dict[str, Any]]:
    response = server.http.get(f"{server.url}/v1/jobs/{job_id}/deliveries", timeout=10)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def settled(server: ServerProcess, job_id: str, count: int) -> list[dict[str, Any]]:
    """The job's deliveries once there are ``count`` or more and all have ended (delivered,
    failed or disabled)."""
    with server.client() as client:
        client.wait(job_id, timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = deliveries(server, job_id)
        if len(items) >= count and all(item["completed_at"] is not None for item in items):
            return items
        time.sleep(0.05)
    raise AssertionError(f"deliveries did not settle: {deliveries(server, job_id)}")


def verified(request: Received) -> dict[str, Any]:
    """The body, after both the current and the previous secret verified it."""
    body: dict[str, Any] = Webhook(CURRENT).verify(request.body, request.headers)
    assert Webhook(PREVIOUS).verify(request.body, request.headers) == body
    return body


def test_every_event_arrives_signed_in_order_with_throttled_progress(
    server: ServerProcess, image_key: str
) -> None:
    with receiving() as receiver:
        job = submit(server, image_key, {"url": f"{receiver.url}/hook"}, tasks=12, seconds=0.25)
        items = settled(server, job["id"], 3)
        requests = receiver.wait_for(len(items))
    bodies = sorted((verified(r) for r in requests), key=lambda body: body["event_id"])
    types = [body["type"] for body in bodies]
    assert types[0] == "job.started" and types[-1] == "job.succeeded"
    assert set(types[1:-1]) == {"job.progress"}, types
    assert all(body["data"]["id"] == job["id"] for body in bodies)
    assert bodies[-1]["data"]["status"] == "succeeded"
    # Progress is throttled per job: at most one event in any 500 ms.
    stamps = [datetime.fromisoformat(body["timestamp"]).timestamp() for body in bodies[:-1]]
    assert all(b - a >= 0.5 for a, b in itertools.pairwise(stamps)), stamps
    percents = [body["data"]["progress"]["percent"] for body in bodies]
    assert percents == sorted(percents)
    # The listing shows each message once, delivered at the first attempt, under its webhook-id.
    assert {r.headers["webhook-id"] for r in requests} == {item["id"] for item in items}
    assert all(item["status"] == "delivered" and item["attempts"] == 1 for item in items)
    assert all(item["attempts_log"][0]["status_code"] == 200 for item in items)


def test_failures_are_retried_under_one_id_and_redirects_are_not_followed(
    server: ServerProcess, image_key: str
) -> None:
    def answer(path: str, seen: int) -> tuple[int, dict[str, str]]:
        if path == "/elsewhere":
            return 200, {}
        return [(500, {}), (302, {"location": "/elsewhere"}), (200, {})][seen]

    with receiving(answer) as receiver:
        hook = {"url": f"{receiver.url}/hook", "events": ["succeeded"]}
        job = submit(server, image_key, hook, tasks=1, seconds=0)
        (item,) = settled(server, job["id"], 1)
        requests = receiver.wait_for(3, "/hook")
        assert receiver.received("/elsewhere") == []
    assert {r.headers["webhook-id"] for r in requests} == {item["id"]}
    assert all(verified(r)["type"] == "job.succeeded" for r in requests)
    assert item["status"] == "delivered" and item["attempts"] == 3
    assert [a["status_code"] for a in item["attempts_log"]] == [500, 302, 200]
    assert [a["outcome"] for a in item["attempts_log"]] == ["pending", "pending", "delivered"]


def test_a_receiver_that_always_fails_never_fails_the_job(
    server: ServerProcess, image_key: str
) -> None:
    with receiving(lambda _path, _seen: (503, {})) as receiver:
        hook = {"url": f"{receiver.url}/down", "events": ["succeeded"]}
        job = submit(server, image_key, hook, tasks=1, seconds=0)
        (item,) = settled(server, job["id"], 1)
        assert len(receiver.received("/down")) == len(SCHEDULE) + 1
    assert item["status"] == "failed" and item["attempts"] == len(SCHEDULE) + 1
    with server.client() as client:
        assert client.job(job["id"])["status"] == "succeeded"


def test_410_gone_disables_the_endpoint_for_later_jobs(
    server: ServerProcess, image_key: str
) -> None:
    with receiving(lambda _path, _seen: (410, {})) as receiver:
        hook = {"url": f"{receiver.url}/gone", "events": ["succeeded"]}
        first = submit(server, image_key, hook, tasks=1, seconds=0)
        (gone,) = settled(server, first["id"], 1)
        second = submit(server, image_key, hook, tasks=1, seconds=0)
        (skipped,) = settled(server, second["id"], 1)
        assert len(receiver.received("/gone")) == 1
    assert gone["status"] == "disabled" and gone["attempts"] == 1
    assert skipped["status"] == "disabled" and skipped["attempts"] == 0


def test_429_is_retried_when_retry_after_says(server: ServerProcess, image_key: str) -> None:
    def answer(_path: str, seen: int) -> tuple[int, dict[str, str]]:
        return (429, {"retry-after": "2"}) if seen == 0 else (200, {})

    with receiving(answer) as receiver:
        hook = {"url": f"{receiver.url}/busy", "events": ["succeeded"]}
        job = submit(server, image_key, hook, tasks=1, seconds=0)
        (item,) = settled(server, job["id"], 1)
        first, second = receiver.wait_for(2, "/busy")
    # The schedule alone would have retried after about 0.3 s.
    assert second.at - first.at >= 1.9
    assert item["status"] == "delivered" and item["attempts"] == 2


def test_a_bad_webhook_is_refused_at_submit(server: ServerProcess, image_key: str) -> None:
    for webhook, field in [
        ({"url": "ftp://example.com/hook"}, "webhook.url"),
        ({"url": "http://127.0.0.1/hook", "events": ["finished"]}, "webhook.events.0"),
        ({"url": "http://127.0.0.1/hook", "events": []}, "webhook.events"),
    ]:
        body = {"operation": "noop", "input": {"key": image_key}, "webhook": webhook}
        response = server.http.post(f"{server.url}/v1/jobs", json=body, timeout=10)
        assert response.status_code == 422, response.text
        fields = [e["field"] for e in response.json()["error"]["details"]["errors"]]
        assert fields == [field]


def test_deliveries_of_an_unknown_job_are_404(server: ServerProcess) -> None:
    response = server.http.get(f"{server.url}/v1/jobs/nope/deliveries", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
