"""Webhooks out, from the app's own sender thread: Standard Webhooks signatures checked with
the official package against a real receiver on loopback (which the app is told to allow), the
retry, redirect, 410 and 429 rules, and the deliveries listing. Through a real server on both
databases: ``tests/acceptance/test_webhooks.py``."""

from __future__ import annotations

import itertools
import socket
import time
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.loopback import LOOPBACK
from tests.support.receiver import Received, receiving
from tilework.core.signatures import new_secret

CURRENT, PREVIOUS = new_secret(), new_secret()
SCHEDULE = [0.3, 0.3, 0.3]  # three retries, quickly: four attempts in all


@pytest.fixture
def api(make_api: MakeApi) -> InProcessApi:
    return make_api(
        fetch_allow_hosts=LOOPBACK,
        webhook_secret=f"{CURRENT} {PREVIOUS}",  # mid-rotation: every message signed twice
        webhook_retry_seconds=SCHEDULE,
    )


@pytest.fixture
def image_key(api: InProcessApi, tmp_path: Path) -> str:
    with api.client() as client:
        return str(client.upload(images.photo(tmp_path / "photo.jpg", 64, 48))["key"])


def submit(
    api: InProcessApi, image_key: str, webhook: dict[str, Any], **params: Any
) -> dict[str, Any]:
    body = {
        "operation": params.pop("operation", "test_fanout"),
        "input": {"key": image_key},
        "params": params,
        "webhook": webhook,
    }
    response = api.http.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


def deliveries(api: InProcessApi, job_id: str) -> list[dict[str, Any]]:
    response = api.http.get(f"/v1/jobs/{job_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def settled(api: InProcessApi, job_id: str, count: int) -> list[dict[str, Any]]:
    """Run the job, then its deliveries once there are ``count`` or more and all have ended
    (delivered, failed or disabled)."""
    api.work()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = deliveries(api, job_id)
        if len(items) >= count and all(item["completed_at"] is not None for item in items):
            return items
        time.sleep(0.05)
    raise AssertionError(f"deliveries did not settle: {deliveries(api, job_id)}")


def verified(request: Received) -> dict[str, Any]:
    """The body, after both the current and the previous secret verified it."""
    body: dict[str, Any] = Webhook(CURRENT).verify(request.body, request.headers)
    assert Webhook(PREVIOUS).verify(request.body, request.headers) == body
    return body


def test_every_event_arrives_signed_in_order_with_throttled_progress(
    api: InProcessApi, image_key: str
) -> None:
    with receiving() as receiver:
        job = submit(api, image_key, {"url": f"{receiver.url}/hook"}, tasks=12, seconds=0.25)
        items = settled(api, job["id"], 3)
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
    api: InProcessApi, image_key: str
) -> None:
    def answer(path: str, seen: int) -> tuple[int, dict[str, str]]:
        if path == "/elsewhere":
            return 200, {}
        return [(500, {}), (302, {"location": "/elsewhere"}), (200, {})][seen]

    with receiving(answer) as receiver:
        hook = {"url": f"{receiver.url}/hook", "events": ["succeeded"]}
        job = submit(api, image_key, hook, tasks=1, seconds=0)
        (item,) = settled(api, job["id"], 1)
        requests = receiver.wait_for(3, "/hook")
        assert receiver.received("/elsewhere") == []
    assert {r.headers["webhook-id"] for r in requests} == {item["id"]}
    assert all(verified(r)["type"] == "job.succeeded" for r in requests)
    assert item["status"] == "delivered" and item["attempts"] == 3
    assert [a["status_code"] for a in item["attempts_log"]] == [500, 302, 200]
    assert [a["outcome"] for a in item["attempts_log"]] == ["pending", "pending", "delivered"]


def test_a_receiver_that_always_fails_never_fails_the_job(
    api: InProcessApi, image_key: str
) -> None:
    with receiving(lambda _path, _seen: (503, {})) as receiver:
        hook = {"url": f"{receiver.url}/down", "events": ["succeeded"]}
        job = submit(api, image_key, hook, tasks=1, seconds=0)
        (item,) = settled(api, job["id"], 1)
        assert len(receiver.received("/down")) == len(SCHEDULE) + 1
    assert item["status"] == "failed" and item["attempts"] == len(SCHEDULE) + 1
    assert api.http.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"


def test_a_receiver_that_is_not_listening_is_retried_with_the_error_recorded(
    api: InProcessApi, image_key: str
) -> None:
    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    hook = {"url": f"http://127.0.0.1:{port}/hook", "events": ["succeeded"]}
    job = submit(api, image_key, hook, tasks=1, seconds=0)
    (item,) = settled(api, job["id"], 1)
    assert item["status"] == "failed" and item["attempts"] == len(SCHEDULE) + 1
    for attempt in item["attempts_log"]:
        assert attempt["status_code"] is None
        assert "ConnectError" in attempt["error"], attempt
    assert api.http.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"


def test_410_gone_disables_the_endpoint_for_later_jobs(api: InProcessApi, image_key: str) -> None:
    with receiving(lambda _path, _seen: (410, {})) as receiver:
        hook = {"url": f"{receiver.url}/gone", "events": ["succeeded"]}
        first = submit(api, image_key, hook, tasks=1, seconds=0)
        (gone,) = settled(api, first["id"], 1)
        second = submit(api, image_key, hook, tasks=1, seconds=0)
        (skipped,) = settled(api, second["id"], 1)
        assert len(receiver.received("/gone")) == 1
    assert gone["status"] == "disabled" and gone["attempts"] == 1
    assert skipped["status"] == "disabled" and skipped["attempts"] == 0


def test_429_is_retried_when_retry_after_says(api: InProcessApi, image_key: str) -> None:
    def answer(_path: str, seen: int) -> tuple[int, dict[str, str]]:
        return (429, {"retry-after": "2"}) if seen == 0 else (200, {})

    with receiving(answer) as receiver:
        hook = {"url": f"{receiver.url}/busy", "events": ["succeeded"]}
        job = submit(api, image_key, hook, tasks=1, seconds=0)
        (item,) = settled(api, job["id"], 1)
        first, second = receiver.wait_for(2, "/busy")
    # The schedule alone would have retried after about 0.3 s.
    assert second.at - first.at >= 1.9
    assert item["status"] == "delivered" and item["attempts"] == 2


def test_a_bad_webhook_is_refused_at_submit(api: InProcessApi, image_key: str) -> None:
    for webhook, field in [
        ({"url": "ftp://example.com/hook"}, "webhook.url"),
        ({"url": "http://127.0.0.1/hook", "events": ["finished"]}, "webhook.events[0]"),
        ({"url": "http://127.0.0.1/hook", "events": []}, "webhook.events"),
    ]:
        body = {"operation": "noop", "input": {"key": image_key}, "webhook": webhook}
        response = api.http.post("/v1/jobs", json=body)
        assert response.status_code == 422, response.text
        fields = [e["field"] for e in response.json()["error"]["details"]["errors"]]
        assert fields == [field]


def test_deliveries_of_an_unknown_job_are_404(api: InProcessApi) -> None:
    response = api.http.get("/v1/jobs/nope/deliveries")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_sender_refuses_a_name_that_resolves_to_loopback(
    make_api: MakeApi, tmp_path: Path
) -> None:
    """Through the app's own sender and its production policy (nothing allowed): the URL
    passes the submit check (a plain name, no DNS there), and is refused at connect, once, with
    the policy's code: a refused target is not retried, and the receiver hears nothing."""
    name = socket.gethostname()
    resolved = {info[4][0] for info in socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)}
    assert resolved and not any(ip_address(a).is_global for a in resolved), (
        f"this test needs the machine's own name ({name}) to resolve to a private address, "
        f"as /etc/hosts makes it on Debian; it resolves to {resolved}"
    )
    api = make_api(webhook_retry_seconds=SCHEDULE)
    with api.client() as client:
        key = str(client.upload(images.photo(tmp_path / "photo.jpg", 64, 48))["key"])
    with receiving() as receiver:
        port = receiver.url.rsplit(":", 1)[1]
        hook = {"url": f"http://{name}:{port}/hook", "events": ["succeeded"]}
        job = submit(api, key, hook, tasks=1, seconds=0)
        (item,) = settled(api, job["id"], 1)
        assert receiver.received() == []
    assert item["status"] == "failed" and item["attempts"] == 1, item
    assert item["attempts_log"][0]["error"].startswith("ssrf_blocked"), item
