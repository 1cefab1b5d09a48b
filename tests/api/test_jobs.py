"""API v1's jobs, uploads and files, in process: submit, poll, download, refusals by field,
idempotency, group commit, listing, the queue's limit."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.support.api import BASE_URL, InProcessApi, MakeApi, error_of
from tests.support.databases import BACKENDS
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tilework.client import ApiError, Client


def test_upload_submit_poll_download(
    api: InProcessApi, client: Client, photo: Path, tmp_path: Path
) -> None:
    upload = client.upload(photo)
    assert upload["sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert upload["bytes"] == photo.stat().st_size
    job = client.submit("resize", key=upload["key"], params={"width": 160, "format": "webp"})
    assert job["status"] == "queued" and job["urls"]["get"].endswith(job["id"])
    api.work()
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
    api: InProcessApi, client: Client, photo: Path
) -> None:
    url = client.upload(photo)["url"]
    with httpx.Client(transport=api.transport) as anyone:  # file URLs carry no API key
        assert anyone.get(url).status_code == 200
        assert error_of(anyone.get(url.replace("signature=", "signature=0"))) == (403, "forbidden")
        assert error_of(anyone.get(url.replace("expires=", "expires=1"))) == (403, "forbidden")
        assert error_of(anyone.get(url.split("?")[0])) == (403, "forbidden")
        # Not even ASCII (a fuzzer's): refused like any wrong signature, not a server error.
        garbled = url.split("signature=")[0] + "signature=%C2%9C"
        assert error_of(anyone.get(garbled)) == (403, "forbidden")
        # Signed correctly, for a moment already past.
        (key,) = re.findall(r"/v1/objects/([^?]+)", url)
        expired = api.services.objects.signer.sign(unquote(key), -1)
        assert error_of(anyone.get(expired)) == (403, "forbidden")


@pytest.mark.parametrize(
    "key", ["../outside.txt", "uploads/../../outside.txt", "./../outside.txt", "uploads/.."]
)
def test_a_signed_url_cannot_reach_outside_the_object_store(api: InProcessApi, key: str) -> None:
    """Even with a valid signature (the route's last line of defence is the store's own key
    check): the path reaches the route percent-encoded, as an attacker would send it, since a
    client would remove plain ``..`` segments before sending."""
    outside = api.settings.home / "outside.txt"
    outside.write_text("not an object")
    signed = api.services.objects.signer.sign(key, 60)
    query = signed.split("?", 1)[1]
    path = "/v1/objects/" + quote(key, safe="").replace(".", "%2E")
    with httpx.Client(transport=api.transport) as anyone:
        answer = anyone.get(f"{BASE_URL}{path}?{query}")
    # Refused by the key check, which proves the key reached the route with its dots intact.
    assert error_of(answer) == (422, "validation_failed"), answer.text
    assert "not an object" not in answer.text


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
    http: httpx.Client, body: dict[str, object], field: str
) -> None:
    response = http.post("/v1/jobs", json=body)
    assert error_of(response) == (422, "validation_failed")
    fields = [error["field"] for error in response.json()["error"]["details"]["errors"]]
    assert any(name.startswith(field) for name in fields), fields


def test_bad_uploads(http: httpx.Client) -> None:
    assert error_of(http.post("/v1/uploads", content=b"")) == (422, "validation_failed")
    assert error_of(http.post("/v1/uploads", content=b"<html>not an image</html>")) == (
        415,
        "unsupported_format",
    )
    assert error_of(http.post("/v1/uploads", content=b"%PDF-1.4 " * 10)) == (
        415,
        "unsupported_format",
    )
    big = b"\x89PNG\r\n\x1a\n" + bytes(5_000_001)
    assert error_of(http.post("/v1/uploads", content=big)) == (413, "payload_too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        yield b"\x89PNG\r\n\x1a\n"
        for _ in range(6):
            yield bytes(1_000_000)

    assert error_of(http.post("/v1/uploads", content=chunked())) == (413, "payload_too_large")


def test_unknown_things_are_404_json(http: httpx.Client) -> None:
    assert error_of(http.get("/v1/jobs/nope")) == (404, "not_found")
    assert error_of(http.post("/v1/jobs/nope/cancel")) == (404, "not_found")
    assert error_of(http.get("/v2/anything")) == (404, "not_found")
    assert error_of(http.delete("/v1/jobs")) == (405, "method_not_allowed")
    assert error_of(http.get("/v1/jobs?limit=0")) == (422, "validation_failed")
    assert error_of(http.get("/v1/jobs?status=lost")) == (422, "validation_failed")


def test_idempotency_keys(http: httpx.Client, client: Client, photo: Path) -> None:
    key = client.upload(photo)["key"]
    body = {"operation": "resize", "input": {"key": key}, "params": {"width": 10}}
    first = http.post("/v1/jobs", json=body, headers={"Idempotency-Key": "abc"})
    again = http.post("/v1/jobs", json={**body, "idempotency_key": "abc"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = {**body, "params": {"width": 11}}
    conflict = http.post("/v1/jobs", json=changed, headers={"Idempotency-Key": "abc"})
    assert error_of(conflict) == (409, "idempotency_conflict")


def test_concurrent_submits_each_get_their_answer(
    api: InProcessApi, client: Client, photo: Path
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
        # One event loop serving all 32 at once, as uvicorn would.
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api.app),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {api.admin_key}"},
            timeout=30,
        ) as http:
            return await asyncio.gather(*(http.post("/v1/jobs", json=one) for one in bodies))

    answers = asyncio.run(post_all())
    keyed, plain, invalid = answers[:16], answers[16:28], answers[28:]
    # Requests race to the submit thread, so either width may claim the key first; the
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


@pytest.mark.parametrize("backend", BACKENDS)
def test_list_filter_and_paginate(make_api: MakeApi, backend: str, photo: Path) -> None:
    """On both databases: the filters are SQL the store tier checks, wired from the route."""
    api = make_api(backend)
    with api.client() as client:
        key = client.upload(photo)["key"]
        made = [client.submit("resize", key=key, params={"width": 8 + n})["id"] for n in range(5)]
        api.work()
        seen: list[str] = []
        cursor = None
        while True:
            page = client.jobs(operation="resize", status="succeeded", limit=2, cursor=cursor)
            seen += [job["id"] for job in page["items"]]
            assert len(page["items"]) <= 2
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(seen, reverse=True) == sorted(made, reverse=True)
        # Jobs each filter must leave out: another operation that succeeded, and a resize that
        # has not run (submitted after the work above).
        other = client.submit("noop", key=key, params={"tasks": 1})["id"]
        api.work()
        waiting = client.submit("resize", key=key, params={"width": 20})["id"]

        def ids(**filters: str) -> list[str]:
            return [job["id"] for job in client.jobs(limit=200, **filters)["items"]]

        assert ids(operation="resize", status="succeeded") == seen
        assert ids(operation="resize") == [waiting, *seen]
        assert ids(status="succeeded") == sorted([*made, other], reverse=True)
        assert ids(status="queued") == [waiting]
        assert ids(operation="noop") == [other]


def test_failed_jobs_carry_the_error_code(make_api: MakeApi) -> None:
    api = make_api(fetch_allow_hosts=LOOPBACK)  # port 9 on loopback: nothing listens there
    with api.client() as client:
        job = client.submit("resize", url="http://127.0.0.1:9/missing.png", params={"width": 10})
        api.work()
        done = client.job(job["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "download_failed"


def test_url_inputs_are_fetched(make_api: MakeApi, photo: Path) -> None:
    api = make_api(fetch_allow_hosts=LOOPBACK)  # the file server is on loopback
    with serving(photo.parent) as base, api.client() as client:
        good = client.submit("resize", url=f"{base}/{photo.name}", params={"width": 32})
        missing = client.submit("resize", url=f"{base}/missing.jpg", params={"width": 32})
        api.work()
        assert client.job(good["id"])["status"] == "succeeded"
        failed = client.job(missing["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "download_failed"
    assert "404" in failed["error"]["message"] and failed["attempts"] == 1


def test_a_full_queue_answers_503_with_retry_after(make_api: MakeApi, photo: Path) -> None:
    api = make_api(max_queued=3)
    with api.client() as client:
        key = client.upload(photo)["key"]
        accepted = [client.submit("noop", key=key, params={"tasks": 1}) for _ in range(3)]
        refused = api.http.post("/v1/jobs", json={"operation": "noop", "input": {"key": key}})
        client.cancel(accepted[0]["id"])
        after_cancel = api.http.post("/v1/jobs", json={"operation": "noop", "input": {"key": key}})
    assert error_of(refused) == (503, "queue_full")
    assert int(refused.headers["Retry-After"]) > 0
    assert after_cancel.status_code == 201


def test_health_and_docs(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    assert http.get("/docs").status_code == 200
    schema = http.get("/openapi.json").json()
    assert {"/v1/jobs", "/v1/uploads", "/v1/jobs/{job_id}/cancel"} <= set(schema["paths"])


def test_sdk_raises_api_errors(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.job("missing")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
