"""fal's queue protocol, in process: the envelopes, the three states, logs, results and their
errors, cancel's answers, ``Authorization: Key``, the JavaScript client's proxy convention and
its storage upload. The official clients drive a real server in ``tests/acceptance/test_fal.py``."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx
import pytest
from nacl.signing import VerifyKey

from tests.support import images
from tests.support.api import BASE_URL, InProcessApi, MakeApi
from tests.support.documented import FAL_RESULT
from tests.support.falclients import fal_signed_message
from tests.support.loopback import LOOPBACK
from tests.support.receiver import receiving


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    photo = images.photo(tmp_path_factory.mktemp("img") / "small.jpg", 8, 6)
    return "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()


@pytest.fixture
def fal(api: InProcessApi) -> httpx.Client:
    """A new tenant's client, its key sent as fal's clients send it."""
    http = api.anonymous()
    http.headers["Authorization"] = f"Key {api.tenant_key()}"
    return http


def submit(
    fal: httpx.Client, body: dict[str, Any], model: str = "tilework/resize", **params: Any
) -> httpx.Response:
    return fal.post(f"/fal/{model}", json=body, params=params)


def test_a_request_goes_from_in_queue_to_completed_with_its_images(
    api: InProcessApi, fal: httpx.Client, image: str
) -> None:
    submitted = submit(fal, {"image_url": image, "width": 4, "format": "png"})
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    request_id = body["request_id"]
    base = f"{BASE_URL}/fal/tilework/resize/requests/{request_id}"
    assert body == {
        "request_id": request_id,
        "status": "IN_QUEUE",
        "queue_position": 0,
        "status_url": f"{base}/status",
        "response_url": base,
        "cancel_url": f"{base}/cancel",
    }
    queued = fal.get(body["status_url"])
    assert queued.status_code == 202
    assert queued.json()["status"] == "IN_QUEUE" and queued.json()["queue_position"] == 0
    assert "logs" not in queued.json()
    early = fal.get(body["response_url"])
    assert early.status_code == 400 and early.json()["error_type"] == "request_in_progress"

    api.work()
    done = fal.get(body["status_url"], params={"logs": 1})
    assert done.status_code == 200
    status = done.json()
    assert status["status"] == "COMPLETED" and "error" not in status
    assert status["metrics"]["inference_time"] >= 0
    messages = [line["message"] for line in status["logs"]]
    assert messages[0] == "started" and messages[-1] == "succeeded", messages
    assert {line["level"] for line in status["logs"]} == {"INFO"}
    assert fal.get(body["status_url"]).json()["logs"] is None  # not asked for

    result = fal.get(body["response_url"])
    assert result.status_code == 200
    assert result.headers["x-fal-request-id"] == request_id
    assert result.headers["x-fal-billable-units"] == "1"  # a few pixels: the minimum
    (picture,) = result.json()["images"]
    assert (picture["width"], picture["height"]) == (4, 3)
    assert picture["content_type"] == "image/png"
    # Every field of an image in fal's documented result (tests/support/documented.py).
    assert set(FAL_RESULT["images"][0]) <= set(picture)
    with api.anonymous() as anyone:  # a signed URL needs no key
        made = anyone.get(picture["url"])
    assert made.status_code == 200 and len(made.content) == picture["file_size"]
    assert made.content.startswith(b"\x89PNG")
    (output,) = result.json()["outputs"]
    assert output["url"] == picture["url"] and output["sha256"]


def test_a_failed_request_is_completed_with_its_error_and_its_result_is_the_error(
    api: InProcessApi, fal: httpx.Client
) -> None:
    broken = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    body = submit(fal, {"image_url": broken, "width": 4}).json()
    api.work()
    status = fal.get(body["status_url"], params={"logs": 1})
    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"
    assert status.json()["error_type"] == "corrupt_image" and status.json()["error"]
    assert status.json()["logs"][-1]["level"] == "ERROR"
    result = fal.get(body["response_url"])
    assert result.status_code == 422
    assert result.json()["error_type"] == "corrupt_image"
    assert result.json()["detail"] == status.json()["error"]
    assert result.headers["x-fal-request-id"] == body["request_id"]


def test_cancel_answers_as_fal_does(api: InProcessApi, fal: httpx.Client, image: str) -> None:
    body = submit(fal, {"image_url": image, "width": 4}).json()
    canceled = fal.put(body["cancel_url"])
    assert (canceled.status_code, canceled.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    status = fal.get(body["status_url"]).json()
    assert status["status"] == "COMPLETED" and status["error_type"] == "canceled"
    result = fal.get(body["response_url"])
    assert result.status_code == 400 and result.json()["error_type"] == "canceled"
    again = fal.put(body["cancel_url"])
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})
    missing = fal.put("/fal/tilework/resize/requests/nope/cancel")
    assert (missing.status_code, missing.json()) == (404, {"status": "NOT_FOUND"})


def test_queue_position_counts_the_requests_ahead(fal: httpx.Client, image: str) -> None:
    positions = [submit(fal, {"image_url": image, "width": 4}).json() for _ in range(3)]
    assert [body["queue_position"] for body in positions] == [0, 1, 2]
    assert fal.get(positions[2]["status_url"]).json()["queue_position"] == 2
    fal.put(positions[0]["cancel_url"])
    assert fal.get(positions[2]["status_url"]).json()["queue_position"] == 1


def test_the_status_stream_sends_each_change_and_ends_after_completed(
    api: InProcessApi, fal: httpx.Client, image: str
) -> None:
    # Two stages of 600 ms: the stream sees the job running before it completes, so at least
    # two statuses carry log lines (a stream resending the whole log would repeat the first).
    body = fal.post(
        "/fal/tilework/noop", json={"image_url": image, "stages": 2, "sleep_ms": 600}
    ).json()
    url = body["status_url"] + "/stream"
    with api.working(), fal.stream("GET", url, params={"logs": 1}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        statuses = [
            json.loads(line.removeprefix("data: "))
            for line in stream.iter_lines()
            if line.startswith("data: ")
        ]
    assert statuses[0]["status"] in ("IN_QUEUE", "IN_PROGRESS")
    assert statuses[-1]["status"] == "COMPLETED"
    assert [s["status"] for s in statuses].count("COMPLETED") == 1
    # Each status carries only the lines that are new; together they are the whole log.
    assert sum(1 for status in statuses if status.get("logs")) >= 2
    lines = [line["message"] for status in statuses for line in status.get("logs") or []]
    assert lines[0] == "started" and lines[-1] == "succeeded"
    assert len(lines) == len(fal.get(body["status_url"], params={"logs": "true"}).json()["logs"])
    assert stream.headers["x-fal-request-id"] == body["request_id"]


def test_errors_name_fals_fields(fal: httpx.Client, image: str) -> None:
    invalid = submit(fal, {"image_url": image, "width": -3, "format": "bmp"})
    assert invalid.status_code == 422
    detail = invalid.json()["detail"]
    assert {tuple(item["loc"]) for item in detail} == {("body", "width"), ("body", "format")}
    assert all(item["msg"] and item["type"] for item in detail)
    assert invalid.json()["error_type"] == "validation_failed"

    missing = submit(fal, {"width": 4})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "image_url"]
    garbled = submit(fal, {"image_url": "data:image/png;base64,@@@", "width": 4})
    assert garbled.json()["detail"][0]["loc"] == ["body", "image_url"]

    blocked = submit(fal, {"image_url": "http://127.0.0.1:9/x.png", "width": 4})
    assert blocked.status_code == 400 and blocked.json()["error_type"] == "ssrf_blocked"
    hook = submit(
        fal, {"image_url": image, "width": 4}, fal_webhook="http://169.254.169.254/latest"
    )
    assert hook.status_code == 400 and hook.json()["error_type"] == "ssrf_blocked"

    unknown = submit(fal, {"image_url": image}, model="tilework/paint")
    assert unknown.status_code == 404
    assert "tilework/resize" in unknown.json()["detail"]  # the models there are
    path = submit(fal, {"image_url": image}, model="tilework/resize/fast")
    assert path.status_code == 404 and "no endpoint /fast" in path.json()["detail"]
    not_json = fal.post(
        "/fal/tilework/resize", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422 and not_json.json()["error_type"] == "validation_failed"
    assert fal.get("/fal/tilework/resize/requests/nope/status").status_code == 404


def test_keys_are_sent_as_fal_sends_them(api: InProcessApi, image: str) -> None:
    with api.anonymous() as nobody:
        refused = nobody.post("/fal/tilework/resize", json={"image_url": image})
        assert refused.status_code == 401 and refused.json()["error_type"] == "unauthorized"
        wrong = nobody.post(
            "/fal/tilework/resize",
            json={"image_url": image},
            headers={"Authorization": "Key tw_not_a_key_of_this_server"},
        )
        assert wrong.status_code == 401
    # The Bearer form of the rest of the API works too.
    assert (
        api.http.post("/fal/tilework/resize", json={"image_url": image, "width": 4}).status_code
        == 200
    )


def test_an_idempotency_key_makes_one_request(fal: httpx.Client, image: str) -> None:
    headers = {"Idempotency-Key": "order-9"}
    first = fal.post("/fal/tilework/resize", json={"image_url": image, "width": 4}, headers=headers)
    again = fal.post("/fal/tilework/resize", json={"image_url": image, "width": 4}, headers=headers)
    assert first.json()["request_id"] == again.json()["request_id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = fal.post("/fal/tilework/resize", json={"image_url": image, "width": 5}, headers=headers)
    # 422, not 409: fal's Python client retries a 409 for a minute before it gives up.
    assert other.status_code == 422 and other.json()["error_type"] == "idempotency_conflict"
    assert other.json()["message"] == "this idempotency key was used with a different request"


def test_a_deployment_is_a_model(make_api: MakeApi, image: str) -> None:
    api = make_api(deployments={"acme/thumbs": {"operation": "resize", "params": {"width": 2}}})
    with api.anonymous() as fal:
        fal.headers["Authorization"] = f"Key {api.tenant_key()}"
        body = submit(fal, {"image_url": image}, model="acme/thumbs").json()
        api.work()
        (picture,) = fal.get(body["response_url"]).json()["images"]
    assert picture["width"] == 2


def test_the_synchronous_run_answers_with_the_result(
    api: InProcessApi, fal: httpx.Client, image: str
) -> None:
    with api.working():
        ran = fal.post("/fal/run/tilework/resize", json={"image_url": image, "width": 4})
    assert ran.status_code == 200, ran.text
    assert ran.json()["images"][0]["width"] == 4
    assert ran.headers["x-fal-request-id"]


def test_the_proxy_routes_on_the_target_url(
    api: InProcessApi, fal: httpx.Client, image: str
) -> None:
    def proxied(method: str, target: str, **kwargs: Any) -> httpx.Response:
        headers = {"x-fal-target-url": target}
        return fal.request(method, "/fal/proxy", headers=headers, **kwargs)

    submitted = proxied(
        "POST", "https://queue.fal.run/tilework/resize", json={"image_url": image, "width": 4}
    )
    assert submitted.status_code == 200, submitted.text
    request_id = submitted.json()["request_id"]
    status = proxied(
        "GET", f"https://queue.fal.run/tilework/resize/requests/{request_id}/status?logs=1"
    )
    assert status.status_code == 202 and status.json()["request_id"] == request_id
    api.work()
    result = proxied("GET", f"https://queue.fal.run/tilework/resize/requests/{request_id}")
    assert result.json()["images"][0]["width"] == 4
    own = proxied("GET", submitted.json()["status_url"])  # this server's own URL passes
    assert own.status_code == 200 and own.json()["status"] == "COMPLETED"

    elsewhere = proxied("GET", "https://example.com/steal")
    assert elsewhere.status_code == 422
    assert elsewhere.json()["detail"][0]["loc"] == ["header", "x-fal-target-url"]
    assert proxied("GET", "https://rest.fal.ai/billing/usage").status_code == 404
    missing = fal.get("/fal/proxy")
    assert missing.status_code == 422 and "x-fal-target-url" in str(missing.json()["detail"])


def test_a_storage_upload_becomes_an_input(
    api: InProcessApi, fal: httpx.Client, tmp_path: Any
) -> None:
    photo = images.photo(tmp_path / "up.jpg", 10, 8)
    started = fal.post(
        "/fal/proxy",
        json={"content_type": "image/jpeg", "file_name": "up.jpg"},
        params={"storage_type": "fal-cdn-v3"},
        headers={
            "x-fal-target-url": "https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3"
        },
    )
    assert started.status_code == 200, started.text
    target = started.json()
    with api.anonymous() as anyone:  # the upload URL is its own authority
        put = anyone.put(target["upload_url"], content=photo.read_bytes())
        assert put.status_code == 200, put.text
        reused = anyone.put(target["upload_url"], content=photo.read_bytes())
        assert reused.status_code == 422 and reused.json()["error_type"] == "idempotency_conflict"
        forged = anyone.put(target["upload_url"].replace("signature=", "signature=0"), content=b"x")
        assert forged.status_code == 403
        wrong = anyone.put(target["upload_url"] + "&tenant=default", content=photo.read_bytes())
        assert wrong.status_code == 403  # the tenant is signed: the first one counts
    body = submit(fal, {"image_url": target["file_url"], "width": 5}).json()
    api.work()
    (picture,) = fal.get(body["response_url"]).json()["images"]
    assert (picture["width"], picture["height"]) == (5, 4)
    not_image = fal.post("/fal/storage/upload/initiate", json={"content_type": "text/plain"}).json()
    with api.anonymous() as anyone:
        refused = anyone.put(not_image["upload_url"], content=b"hello, world")
    assert refused.status_code == 415 and refused.json()["error_type"] == "unsupported_format"


def test_the_jwks_document_publishes_one_ed25519_key(api: InProcessApi) -> None:
    with api.anonymous() as anyone:
        document = anyone.get("/.well-known/jwks.json")
    assert document.status_code == 200
    (key,) = document.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert len(base64.urlsafe_b64decode(key["x"] + "==")) == 32


def test_a_fal_webhook_is_retried_and_every_attempt_is_signed(
    make_api: MakeApi, image: str
) -> None:
    """Durable like every webhook: a receiver that fails first gets it again, signed anew
    (fresh timestamp, same body), and the attempts are listed with the job's deliveries."""
    api = make_api(fetch_allow_hosts=LOOPBACK, webhook_retry_seconds=[0.05, 0.05])
    with (
        api.anonymous() as fal,
        receiving(lambda _path, seen: (500 if seen == 0 else 200, {})) as receiver,
    ):
        key = api.tenant_key()
        fal.headers["Authorization"] = f"Key {key}"
        body = submit(
            fal, {"image_url": image, "width": 4}, fal_webhook=f"{receiver.url}/hook"
        ).json()
        api.work()
        first, second = receiver.wait_for(2, "/hook")
        listed = fal.get(
            f"/v1/jobs/{body['request_id']}/deliveries",
            headers={"Authorization": f"Bearer {key}"},  # tilework's own API: Bearer
        )
        deliveries = listed.json()["items"]
    with api.anonymous() as anyone:
        (jwk,) = anyone.get("/.well-known/jwks.json").json()["keys"]
    key = VerifyKey(base64.urlsafe_b64decode(jwk["x"] + "=="))
    for message in (first, second):
        headers = message.headers
        signed = fal_signed_message(headers, message.body)
        key.verify(signed, bytes.fromhex(headers["x-fal-webhook-signature"]))
    # The same message each time, but for its file URLs: each attempt signs them afresh, so
    # a retry hours later still hands over URLs that work (their expiry may differ).
    unsigned = re.compile(rb"\?expires=\d+&signature=[0-9a-f]+")
    assert unsigned.sub(b"", first.body) == unsigned.sub(b"", second.body)
    sent = json.loads(second.body)
    assert sent["request_id"] == body["request_id"] and sent["status"] == "OK"
    assert sent["payload"]["images"][0]["width"] == 4
    (delivery,) = deliveries
    assert delivery["status"] == "delivered"
    assert [attempt["status_code"] for attempt in delivery["attempts_log"]] == [500, 200]
