"""API v1 over HTTP against the real server process."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fileserver import serving
from tests.server import ServerProcess
from tilework.client import ApiError, Client


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_upload_submit_poll_download(client: Client, photo: Path, tmp_path: Path) -> None:
    upload = client.upload(photo)
    assert upload["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert upload["bytes"] == photo.stat().st_size
    job = client.submit("resize", key=upload["key"], params={"width": 160, "format": "webp"})
    assert job["status"] == "queued" and job["urls"]["get"].endswith(job["id"])
    done = client.wait(job["id"], timeout=30)
    assert done["status"] == "succeeded", done
    assert done["progress"] == {
        "percent": 100.0,
        "stage": "resize",
        "stages": ["resize"],
        "done": 1,
        "total": 1,
    }
    assert done["attempts"] == 1 and done["started_at"] and done["completed_at"]
    assert set(done["timings"]) >= {"probe", "resize", "store"}
    [output] = done["outputs"]
    assert (output["width"], output["height"], output["format"]) == (160, 120, "webp")
    saved = client.download(output["url"], tmp_path / "out.webp")
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == output["sha256"]
    assert saved.stat().st_size == output["bytes"]


def test_signed_urls_refuse_tampering_and_expiry(
    client: Client, server: ServerProcess, photo: Path
) -> None:
    url = client.upload(photo)["url"]
    assert httpx.get(url).status_code == 200
    assert error_of(httpx.get(url.replace("signature=", "signature=0"))) == (403, "forbidden")
    assert error_of(httpx.get(url.replace("expires=", "expires=1"))) == (403, "forbidden")
    assert error_of(httpx.get(url.split("?")[0])) == (403, "forbidden")
    assert server.http.get(
        f"{server.url}/v1/files/../secret_key?expires=9999999999&signature=x"
    ).status_code in (403, 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operation": "blur", "input": {"key": "uploads/x"}}, "operation"),
        (
            {"operation": "resize", "input": {"key": "uploads/x"}, "params": {"width": 0}},
            "params.width",
        ),
        (
            {
                "operation": "resize",
                "input": {"key": "uploads/x"},
                "params": {"width": 9, "fit": "x"},
            },
            "params.fit",
        ),
        (
            {"operation": "resize", "input": {"key": "uploads/nope"}, "params": {"width": 9}},
            "input.key",
        ),
        (
            {"operation": "resize", "input": {"url": "ftp://host/x.png"}, "params": {"width": 9}},
            "input.url",
        ),
        ({"operation": "resize", "input": {}, "params": {"width": 9}}, "input"),
        ({"operation": "resize", "params": {"width": 9}}, "input"),
        ({"operation": "resize", "input": {"key": "uploads/x"}, "extra": 1}, "extra"),
    ],
)
def test_bad_submits_name_the_field(
    server: ServerProcess, body: dict[str, object], field: str
) -> None:
    response = server.http.post(f"{server.url}/v1/jobs", json=body)
    assert error_of(response) == (422, "validation_failed")
    fields = [error["field"] for error in response.json()["error"]["details"]["errors"]]
    assert any(name.startswith(field) for name in fields), fields


def test_bad_uploads(server: ServerProcess) -> None:
    url = f"{server.url}/v1/uploads"
    assert error_of(server.http.post(url, content=b"")) == (422, "validation_failed")
    assert error_of(server.http.post(url, content=b"<html>not an image</html>")) == (
        415,
        "unsupported_format",
    )
    assert error_of(server.http.post(url, content=b"%PDF-1.4 " * 10)) == (415, "unsupported_format")
    big = b"\x89PNG\r\n\x1a\n" + bytes(5_000_001)
    assert error_of(server.http.post(url, content=big)) == (413, "payload_too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        yield b"\x89PNG\r\n\x1a\n"
        for _ in range(6):
            yield bytes(1_000_000)

    assert error_of(server.http.post(url, content=chunked())) == (413, "payload_too_large")


def test_unknown_things_are_404_json(server: ServerProcess) -> None:
    assert error_of(server.http.get(f"{server.url}/v1/jobs/nope")) == (404, "not_found")
    assert error_of(server.http.post(f"{server.url}/v1/jobs/nope/cancel")) == (404, "not_found")
    assert error_of(server.http.get(f"{server.url}/v2/anything")) == (404, "not_found")
    assert error_of(server.http.delete(f"{server.url}/v1/jobs")) == (405, "method_not_allowed")
    assert error_of(server.http.get(f"{server.url}/v1/jobs?limit=0")) == (422, "validation_failed")
    assert error_of(server.http.get(f"{server.url}/v1/jobs?status=lost")) == (
        422,
        "validation_failed",
    )


def test_idempotency_keys(server: ServerProcess, client: Client, photo: Path) -> None:
    key = client.upload(photo)["key"]
    body = {"operation": "resize", "input": {"key": key}, "params": {"width": 10}}
    first = server.http.post(f"{server.url}/v1/jobs", json=body, headers={"Idempotency-Key": "abc"})
    again = server.http.post(f"{server.url}/v1/jobs", json={**body, "idempotency_key": "abc"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = {**body, "params": {"width": 11}}
    conflict = server.http.post(
        f"{server.url}/v1/jobs", json=changed, headers={"Idempotency-Key": "abc"}
    )
    assert error_of(conflict) == (409, "idempotency_conflict")


def test_concurrent_submits_each_get_their_answer(
    server: ServerProcess, client: Client, photo: Path
) -> None:
    """Submits that arrive together share a commit; each still gets its own outcome."""
    key = client.upload(photo)["key"]
    body = {"operation": "resize", "input": {"key": key}, "params": {"width": 12}}
    bodies = (
        [{**body, "idempotency_key": "together"}] * 12
        + [{**body, "params": {"width": 13}, "idempotency_key": "together"}] * 4
        + [{**body, "params": {"width": 5 + n}} for n in range(12)]
        + [{**body, "params": {"width": 0}}] * 4
    )

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, headers=server.auth, timeout=30) as http:
            return await asyncio.gather(*(http.post("/v1/jobs", json=one) for one in bodies))

    answers = asyncio.run(post_all())
    keyed, plain, invalid = answers[:16], answers[16:28], answers[28:]
    # Requests race to the server, so either width may claim the key first; the
    # other width's requests must then all be refused.
    winner = 12 if keyed[0].status_code == 201 else 13
    widths = [one["params"]["width"] for one in bodies[:16]]
    same_key = [a for a, width in zip(keyed, widths, strict=True) if width == winner]
    conflicting = [a for a, width in zip(keyed, widths, strict=True) if width != winner]
    assert {answer.status_code for answer in same_key + plain} == {201}
    assert len({answer.json()["id"] for answer in same_key}) == 1
    assert sum("Idempotent-Replayed" not in answer.headers for answer in same_key) == 1
    assert {error_of(answer) for answer in conflicting} == {(409, "idempotency_conflict")}
    assert {error_of(answer) for answer in invalid} == {(422, "validation_failed")}
    assert {answer.json()["error"]["details"]["errors"][0]["field"] for answer in invalid} == {
        "params.width"
    }
    made = {answer.json()["id"] for answer in same_key + plain}
    assert len(made) == 13
    listed = client.jobs(operation="resize", limit=200)["items"]
    assert made <= {job["id"] for job in listed}


def test_list_filter_and_paginate(client: Client, photo: Path) -> None:
    key = client.upload(photo)["key"]
    made = [client.submit("resize", key=key, params={"width": 8 + n})["id"] for n in range(5)]
    for job_id in made:
        client.wait(job_id, timeout=30)
    seen: list[str] = []
    cursor = None
    while True:
        page = client.jobs(operation="resize", status="succeeded", limit=2, cursor=cursor)
        seen += [job["id"] for job in page["items"]]
        assert len(page["items"]) <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert set(made) <= set(seen)
    assert all(job["operation"] == "resize" for job in client.jobs(operation="resize")["items"])


def test_cancel_a_running_job(client: Client, photo: Path) -> None:
    key = client.upload(photo)["key"]
    job = client.submit("test_sleep", key=key, params={"seconds": 60})
    deadline = time.monotonic() + 20
    while client.job(job["id"])["status"] != "running":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)
    canceled = client.cancel(job["id"])
    assert canceled["status"] == "canceled" and canceled["error"]["code"] == "canceled"
    assert client.cancel(job["id"])["status"] == "canceled"  # cancelling again is harmless
    # Both workers are free again within a heartbeat, long before the 60 s task would end.
    quick = [client.submit("noop", key=key)["id"] for _ in range(4)]
    assert all(client.wait(job_id, timeout=10)["status"] == "succeeded" for job_id in quick)


def test_failed_jobs_carry_the_error_code(client: Client) -> None:
    job = client.submit("resize", url="http://127.0.0.1:9/missing.png", params={"width": 10})
    done = client.wait(job["id"], timeout=60)
    assert done["status"] == "failed" and done["error"]["code"] == "download_failed"


def test_url_inputs_are_fetched(client: Client, photo: Path) -> None:
    with serving(photo.parent) as base:
        good = client.submit("resize", url=f"{base}/{photo.name}", params={"width": 32})
        missing = client.submit("resize", url=f"{base}/missing.jpg", params={"width": 32})
        assert client.wait(good["id"], timeout=30)["status"] == "succeeded"
        failed = client.wait(missing["id"], timeout=30)
    assert failed["status"] == "failed" and failed["error"]["code"] == "download_failed"
    assert "404" in failed["error"]["message"] and failed["attempts"] == 1


def test_health_and_docs(server: ServerProcess) -> None:
    assert server.http.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert server.http.get(f"{server.url}/readyz").json() == {"status": "ready"}
    assert server.http.get(f"{server.url}/docs").status_code == 200
    schema = server.http.get(f"{server.url}/openapi.json").json()
    assert {"/v1/jobs", "/v1/uploads", "/v1/jobs/{job_id}/cancel"} <= set(schema["paths"])


def test_sdk_raises_api_errors(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.job("missing")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
