"""GET /v1/jobs/{id}/events in process: the live stream, resuming with Last-Event-ID, the
queued and canceled cases. The CLI on it and a dropped connection: the acceptance tier."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.support import images
from tests.support.api import InProcessApi
from tilework.client import ApiError, Client, ServerEvent


@pytest.fixture
def image_key(client: Client, tmp_path: Path) -> str:
    return str(client.upload(images.photo(tmp_path / "photo.jpg", 64, 48))["key"])


def fanout(client: Client, image_key: str, tasks: int, seconds: float) -> str:
    job = client.submit("test_fanout", key=image_key, params={"tasks": tasks, "seconds": seconds})
    return str(job["id"])


class Follower:
    """A thread reading a job's stream to its end."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.events: list[ServerEvent] = []
        self._client, self._job_id = client, job_id
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        for message in self._client.events(self._job_id):
            self.events.append(message)

    def wait_for_first(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.events:
            assert time.monotonic() < deadline, "no event arrived"
            time.sleep(0.01)

    def join(self, timeout: float = 15) -> list[str]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream did not end"
        return [message.event for message in self.events]


def test_the_stream_follows_a_job_live_to_its_end(
    api: InProcessApi, client: Client, image_key: str
) -> None:
    job_id = fanout(client, image_key, tasks=8, seconds=0.3)
    arrived: list[tuple[float, ServerEvent]] = []
    with api.working():
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
    # Live: the first event came well before the last (the job takes about 2.4 s).
    assert arrived[-1][0] - arrived[0][0] >= 0.5


def test_last_event_id_resumes_after_that_event(
    api: InProcessApi, client: Client, image_key: str
) -> None:
    job_id = fanout(client, image_key, tasks=6, seconds=0.2)
    api.work()
    full = [m for m in client.events(job_id) if m.id is not None]
    assert len(full) >= 3
    resumed = list(client.events(job_id, last_event_id=full[1].id))
    assert [(m.id, m.event, m.data) for m in resumed] == [(m.id, m.event, m.data) for m in full[2:]]
    by_query = client._http.get(f"/v1/jobs/{job_id}/events", params={"after": full[-2].id})
    assert by_query.headers["content-type"].startswith("text/event-stream")
    assert f"id: {full[-1].id}\n" in by_query.text and f"id: {full[-2].id}\n" not in by_query.text


def test_a_queued_job_says_so_then_streams_its_events(
    api: InProcessApi, client: Client, image_key: str
) -> None:
    waiting = fanout(client, image_key, tasks=1, seconds=0)
    follower = Follower(client, waiting)
    follower.wait_for_first()  # no worker yet: the job is queued while the stream is open
    api.work()
    seen = follower.join()
    assert seen == ["queued", "started", "succeeded"]
    assert follower.events[0].id is None


def test_a_canceled_job_ends_its_stream(client: Client, image_key: str) -> None:
    job_id = fanout(client, image_key, tasks=1, seconds=30)  # no worker: it stays queued
    follower = Follower(client, job_id)
    # The stream is open and has said where the job stands before the cancel, so the canceled
    # event must come live, not from a replay of the log to a follower that came late.
    follower.wait_for_first()
    assert follower.events[0].event == "queued"
    client.cancel(job_id)
    assert follower.join() == ["queued", "canceled"]


def test_unknown_jobs_and_bad_event_ids_are_refused(
    api: InProcessApi, client: Client, image_key: str
) -> None:
    with pytest.raises(ApiError) as missing:
        list(client.events("nope"))
    assert missing.value.status == 404 and missing.value.code == "not_found"
    job_id = fanout(client, image_key, tasks=1, seconds=0)
    api.work()
    with pytest.raises(ApiError) as bad:
        list(client.events(job_id, last_event_id="yesterday"))
    assert bad.value.status == 422 and bad.value.code == "validation_failed"
    # Past the 64-bit ids both databases keep: refused before the stream starts, as a header
    # or as ?after= (the OpenAPI fuzz found the stream breaking midway on SQLite).
    with pytest.raises(ApiError) as huge:
        list(client.events(job_id, last_event_id=str(2**63)))
    assert huge.value.status == 422
    answer = api.http.get(f"/v1/jobs/{job_id}/events", params={"after": 2**63})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "validation_failed"
