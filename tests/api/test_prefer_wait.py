"""``Prefer: wait=N`` on POST /v1/jobs: quick jobs answer in one request."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import InProcessApi, MakeApi
from tests.support.loopback import LOOPBACK
from tilework.client import Client


def submit(api: InProcessApi, body: dict[str, Any], prefer: str | None) -> httpx.Response:
    headers = {"Prefer": prefer} if prefer is not None else {}
    return api.http.post("/v1/jobs", json=body, headers=headers, timeout=90)


def noop_body(client: Client, photo: Path) -> dict[str, Any]:
    """A job body; with no worker running it stays queued, longer than any wait here."""
    key = client.upload(photo)["key"]
    return {"operation": "noop", "input": {"key": key}}


def test_a_quick_job_comes_back_finished(api: InProcessApi, client: Client, photo: Path) -> None:
    key = client.upload(photo)["key"]
    body = {"operation": "resize", "input": {"key": key}, "params": {"width": 64}}
    with api.working():
        answer = submit(api, body, "wait=30")
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded"
    assert answer.headers["Preference-Applied"] == "wait=30"
    assert answer.headers["Location"] == f"/v1/jobs/{job['id']}"
    output = api.http.get(job["outputs"][0]["url"])
    assert output.status_code == 200
    assert hashlib.sha256(output.content).hexdigest() == job["outputs"][0]["sha256"]
    # The same job, read back, is what the one request answered.
    assert client.job(job["id"])["outputs"][0]["sha256"] == job["outputs"][0]["sha256"]


def test_a_slow_job_answers_201_when_the_wait_runs_out(
    api: InProcessApi, client: Client, photo: Path
) -> None:
    body = noop_body(client, photo)
    started = time.monotonic()
    answer = submit(api, body, "respond-async, wait=1")  # other preferences are left alone
    waited = time.monotonic() - started
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "queued"
    # It waited out its second (a lower bound load cannot break), and not the 60 s of a bare
    # `wait` or of the cap.
    assert 1.0 <= waited < 30.0


def test_a_failed_job_is_finished_too(make_api: MakeApi) -> None:
    api = make_api(fetch_allow_hosts=LOOPBACK)  # port 9 on loopback: nothing listens there
    body = {
        "operation": "resize",
        "input": {"url": "http://127.0.0.1:9/none.png"},
        "params": {"width": 8},
    }
    with api.working():
        answer = submit(api, body, "wait")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "failed"
    assert answer.json()["error"]["code"] == "download_failed"


@pytest.mark.parametrize("prefer", ["wait=0", "wait=61", "wait=soon", "wait="])
def test_a_wait_out_of_range_is_refused_and_queues_nothing(
    api: InProcessApi, client: Client, photo: Path, prefer: str
) -> None:
    body = noop_body(client, photo)
    answer = submit(api, body, prefer)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]["errors"][0]["field"] == "headers.prefer"
    assert client.jobs(limit=200)["items"] == []


def test_without_a_wait_preference_the_answer_is_immediate(
    api: InProcessApi, client: Client, photo: Path
) -> None:
    answer = submit(api, noop_body(client, photo), "respond-async")
    assert answer.status_code == 201
    assert "Preference-Applied" not in answer.headers
