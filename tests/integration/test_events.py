"""GET /v1/jobs/{id}/events: the live stream, resuming with Last-Event-ID, and the CLI on it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.databases import BACKENDS
from tests.server import ServerProcess, running_server, uploaded_photo
from tests.tcpproxy import TcpProxy
from tilework.client import ApiError, Client, ServerEvent


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("events"), request.param) as running:
        yield running


@pytest.fixture(scope="module")
def image_key(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    return uploaded_photo(server, tmp_path_factory.mktemp("img"))


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with server.client() as sdk:
        yield sdk


def fanout(client: Client, image_key: str, tasks: int, seconds: float) -> str:
    job = client.submit("test_fanout", key=image_key, params={"tasks": tasks, "seconds": seconds})
    return str(job["id"])


def test_the_stream_follows_a_job_live_to_its_end(client: Client, image_key: str) -> None:
    job_id = fanout(client, image_key, tasks=8, seconds=0.3)
    arrived: list[tuple[float, ServerEvent]] = []
    for message in client.events(job_id):
        arrived.append((time.monotonic(), message))
    events = [message for _, message in arrived]
    logged = [m for m in events if m.id is not None]
    assert logged[0].event == "started"
    assert logged[-1].event == "succeeded" and events[-1] is logged[-1]  # then the stream ends
    assert {m.event for m in logged[1:-1]} <= {"progress"} and len(logged) >= 3
    ids = [int(m.id or 0) for m in logged]
    assert ids == sorted(set(ids))
    bodies = [m.json() for m in logged]
    assert all(
        body["data"]["id"] == job_id and body["event_id"] == int(m.id or 0)
        for body, m in zip(bodies, logged, strict=True)
    )
    percents = [body["data"]["progress"]["percent"] for body in bodies]
    assert percents == sorted(percents) and percents[-1] == 100
    # Live: the first event came well before the last (the job takes about 1.2 s).
    assert arrived[-1][0] - arrived[0][0] >= 0.5


def test_last_event_id_resumes_after_that_event(client: Client, image_key: str) -> None:
    job_id = fanout(client, image_key, tasks=6, seconds=0.2)
    full = [m for m in client.events(job_id) if m.id is not None]
    assert len(full) >= 3
    resumed = list(client.events(job_id, last_event_id=full[1].id))
    assert [(m.id, m.event, m.data) for m in resumed] == [(m.id, m.event, m.data) for m in full[2:]]
    by_query = client._http.get(
        f"/v1/jobs/{job_id}/events",
        params={"after": full[-2].id},
        timeout=10,
    )
    assert by_query.headers["content-type"].startswith("text/event-stream")
    assert f"id: {full[-1].id}\n" in by_query.text and f"id: {full[-2].id}\n" not in by_query.text


def test_a_queued_job_says_so_then_streams_its_events(
    server: ServerProcess, client: Client, image_key: str
) -> None:
    # Two workers busy with long tasks: the third job waits in the queue.
    blockers = [fanout(client, image_key, tasks=1, seconds=1.5) for _ in range(2)]
    waiting = fanout(client, image_key, tasks=1, seconds=0)
    messages = list(client.events(waiting))
    assert messages[0].event == "queued" and messages[0].id is None
    assert [m.event for m in messages[1:]] == ["started", "succeeded"]
    for job_id in blockers:
        client.wait(job_id, timeout=30)


def test_a_canceled_job_ends_its_stream(client: Client, image_key: str) -> None:
    job_id = fanout(client, image_key, tasks=1, seconds=30)
    seen: list[str] = []

    def follow() -> None:
        seen.extend(m.event for m in client.events(job_id))

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.5)
    client.cancel(job_id)
    follower.join(15)
    assert not follower.is_alive() and seen[-1] == "canceled"


def test_unknown_jobs_and_bad_event_ids_are_refused(client: Client, image_key: str) -> None:
    with pytest.raises(ApiError) as missing:
        list(client.events("nope"))
    assert missing.value.status == 404 and missing.value.code == "not_found"
    job_id = fanout(client, image_key, tasks=1, seconds=0)
    with pytest.raises(ApiError) as bad:
        list(client.events(job_id, last_event_id="yesterday"))
    assert bad.value.status == 422 and bad.value.code == "validation_failed"


def test_the_cli_watches_through_the_stream(
    server: ServerProcess, client: Client, image_key: str
) -> None:
    job_id = fanout(client, image_key, tasks=4, seconds=0.3)
    watched = subprocess.run(
        [sys.executable, "-m", "tilework", "jobs", "watch", job_id],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert watched.returncode == 0, watched.stderr
    assert json.loads(watched.stdout)["status"] == "succeeded"


def test_wait_resumes_after_the_connection_drops(
    server: ServerProcess, client: Client, image_key: str
) -> None:
    proxy = TcpProxy("127.0.0.1", server.port).start()
    job_id = fanout(client, image_key, tasks=12, seconds=0.3)
    seen: list[dict[str, Any]] = []
    outcome: list[dict[str, Any]] = []
    with Client(f"http://127.0.0.1:{proxy.port}", server.api_key) as through_proxy:
        follower = threading.Thread(
            target=lambda: outcome.append(through_proxy.wait(job_id, seen.append, timeout=60))
        )
        follower.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        proxy.cut()  # the stream drops mid-job; the client reconnects and resumes
        time.sleep(0.3)
        proxy.start()
        follower.join(60)
    proxy.cut()
    assert seen and seen[0]["status"] != "succeeded"  # it was following when the line dropped
    assert outcome and outcome[0]["status"] == "succeeded"
    percents = [job["progress"]["percent"] for job in seen]
    assert percents == sorted(percents)  # resumed where it left off, in order
