"""``Prefer: wait=N`` on POST /v1/jobs: quick jobs answer in one request (seed 001)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server import ServerProcess
from tilework.client import Client


def submit(server: ServerProcess, body: dict[str, Any], prefer: str | None) -> httpx.Response:
    headers = {"Prefer": prefer} if prefer is not None else {}
    return server.http.post(f"{server.url}/v1/jobs", json=body, headers=headers, timeout=90)


def slow_job(client: Client, photo: Path) -> dict[str, Any]:
    """A job body that takes 20 s: longer than any wait here."""
    key = client.upload(photo)["key"]
    return {"operation": "noop", "input": {"key": key}, "params": {"sleep_ms": 20_000}}


def test_a_quick_job_comes_back_finished(
    server: ServerProcess, client: Client, photo: Path
) -> None:
    key = client.upload(photo)["key"]
    body = {"operation": "resize", "input": {"key": key}, "params": {"width": 64}}
    answer = submit(server, body, "wait=30")
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded"
    assert answer.headers["Preference-Applied"] == "wait=30"
    assert answer.headers["Location"] == f"/v1/jobs/{job['id']}"
    output = httpx.get(job["outputs"][0]["url"])
    assert output.status_code == 200
    assert hashlib.sha256(output.content).hexdigest() == job["outputs"][0]["sha256"]
    # The same job, read back, is what the one request answered.
    assert client.job(job["id"])["outputs"][0]["sha256"] == job["outputs"][0]["sha256"]


def test_a_slow_job_answers_201_when_the_wait_runs_out(
    server: ServerProcess, client: Client, photo: Path
) -> None:
    body = slow_job(client, photo)
    started = time.monotonic()
    answer = submit(server, body, "respond-async, wait=1")  # other preferences are left alone
    waited = time.monotonic() - started
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] in ("queued", "running")
    assert 1.0 <= waited < 10.0
    client.cancel(answer.json()["id"])


def test_a_failed_job_is_finished_too(server: ServerProcess, client: Client) -> None:
    body = {
        "operation": "resize",
        "input": {"url": "http://127.0.0.1:9/none.png"},
        "params": {"width": 8},
    }
    answer = submit(server, body, "wait")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "failed"
    assert answer.json()["error"]["code"] == "download_failed"


@pytest.mark.parametrize("prefer", ["wait=0", "wait=61", "wait=soon", "wait="])
def test_a_wait_out_of_range_is_refused_and_queues_nothing(
    server: ServerProcess, client: Client, photo: Path, prefer: str
) -> None:
    key = client.upload(photo)["key"]
    before = len(client.jobs(limit=200)["items"])
    answer = submit(server, {"operation": "noop", "input": {"key": key}}, prefer)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]["errors"][0]["field"] == "headers.prefer"
    assert len(client.jobs(limit=200)["items"]) == before


def test_without_a_wait_preference_the_answer_is_immediate(
    server: ServerProcess, client: Client, photo: Path
) -> None:
    body = slow_job(client, photo)
    answer = submit(server, body, "respond-async")
    assert answer.status_code == 201
    assert "Preference-Applied" not in answer.headers
    client.cancel(answer.json()["id"])
