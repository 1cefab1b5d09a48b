"""fal's official clients, unchanged, against a real server that serves HTTPS with a
certificate of a test CA (``fal-client`` speaks HTTPS only): the Python client through
``FAL_QUEUE_RUN_HOST`` and ``FAL_RUN_HOST``, the JavaScript one (``@fal-ai/client``, pinned in
``tests/js/package-lock.json``) through its documented proxy option. Both trust the CA through
the environment, as a user's would. Webhooks are checked with libsodium's Ed25519 (PyNaCl),
from nothing but the server's JWKS document."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from tests.acceptance.test_js_clients import node_tests
from tests.support import images
from tests.support.falclients import fal_client_env, fal_signed_message
from tests.support.receiver import Received, receiving
from tests.support.server import ServerProcess

SCRIPT = Path(__file__).with_name("fal_python_client.py")


def verified(server: ServerProcess, message: Received) -> dict[str, Any]:
    """The webhook's body, once its signature checks out against the server's JWKS, as a fal
    receiver checks it: Ed25519 over request id, user id, timestamp and the body's SHA-256."""
    headers = message.headers
    document = httpx.get(f"{server.url}/.well-known/jwks.json", verify=server.verify).json()
    signed = fal_signed_message(headers, message.body)
    signature = bytes.fromhex(headers["x-fal-webhook-signature"])
    assert abs(time.time() - int(headers["x-fal-webhook-timestamp"])) < 300
    matched = 0
    for jwk in document["keys"]:
        key = VerifyKey(base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4)))
        try:
            key.verify(signed, signature)
            matched += 1
        except BadSignatureError:
            pass
    assert matched == 1, "no key of the JWKS document verifies the webhook"
    # The body is what is signed: another body's digest does not verify.
    other = signed.rsplit(b"\n", 1)[0] + b"\n" + hashlib.sha256(b"{}").hexdigest().encode()
    with pytest.raises(BadSignatureError):
        key.verify(other, signature)
    body: dict[str, Any] = json.loads(message.body)
    return body


def test_the_python_client(tls_server: ServerProcess, tmp_path: Path) -> None:
    """subscribe with logs, submit + status + result, cancel, a webhook, errors, run."""
    photo = images.photo(tmp_path / "photo.jpg", 32, 24)
    key = tls_server.tenant_key()
    with receiving() as receiver:
        ran = subprocess.run(
            [sys.executable, str(SCRIPT)],
            env={
                **fal_client_env(tls_server, key),
                "PHOTO": str(photo),
                "WEBHOOK_URL": f"{receiver.url}/fal",
            },
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
        seen = json.loads(ran.stdout)
        (message,) = receiver.wait_for(1, "/fal")

    subscribed = seen["subscribe"]
    assert subscribed["updates"][-1] == "Completed"
    assert set(subscribed["updates"]) <= {"Queued", "InProgress", "Completed"}
    assert subscribed["logs"] and subscribed["logs"][-1] == "succeeded"
    (picture,) = subscribed["images"]
    assert (picture["width"], picture["height"], picture["content_type"]) == (8, 6, "image/png")
    made = httpx.get(picture["url"], verify=tls_server.verify)
    assert made.status_code == 200 and made.content.startswith(b"\x89PNG")

    submitted = seen["submit"]
    assert submitted["status"] == "Completed"
    assert submitted["metrics"]["inference_time"] >= 0
    assert submitted["result"]["images"][0]["width"] == 6

    canceled = seen["cancel"]
    assert (canceled["status"], canceled["error_type"]) == ("Completed", "canceled")
    assert canceled["result"]["status"] == 400
    assert canceled["result"]["error_type"] == "canceled"
    assert canceled["again"]["status"] == 400  # ALREADY_COMPLETED

    assert seen["invalid"]["status"] == 422
    assert seen["invalid"]["error_type"] == "validation_failed"
    assert seen["invalid"]["message"][0]["loc"] == ["body", "width"]
    assert seen["unknown"]["status"] == 404 and "tilework/resize" in seen["unknown"]["message"]
    assert seen["run"]["images"][0]["width"] == 7

    body = verified(tls_server, message)
    assert message.headers["x-fal-webhook-request-id"] == seen["webhook"]["request_id"]
    assert body["request_id"] == body["gateway_request_id"] == seen["webhook"]["request_id"]
    assert body["status"] == "OK" and body["payload"]["images"][0]["width"] == 5


def test_a_failed_request_posts_an_error_webhook(tls_server: ServerProcess) -> None:
    """fal's ERROR message: the error status in ``error``, its body as ``payload``."""
    broken = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    key = tls_server.tenant_key()
    with (
        receiving() as receiver,
        httpx.Client(
            base_url=tls_server.url,
            verify=tls_server.verify,
            headers={"Authorization": f"Key {key}"},
        ) as fal,
    ):
        submitted = fal.post(
            "/fal/tilework/resize",
            json={"image_url": broken, "width": 4},
            params={"fal_webhook": f"{receiver.url}/hook"},
        )
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["gateway_request_id"] == submitted.json()["request_id"]
        (message,) = receiver.wait_for(1, "/hook")
    body = verified(tls_server, message)
    assert body["status"] == "ERROR" and body["error"] == "Invalid status code: 422"
    assert body["payload"]["error_type"] == "corrupt_image"
    assert message.headers["x-fal-webhook-user-id"]


def test_the_javascript_client(tls_server: ServerProcess, tmp_path: Path) -> None:
    """subscribe with logs (polling and streaming), submit + status + result, the status
    stream, cancel, a Blob input uploaded through the storage API, errors, run, a webhook
    verified with Node's Ed25519 from the JWKS document."""
    photo = images.photo(tmp_path / "photo.jpg", 32, 24)
    env = fal_client_env(tls_server, tls_server.tenant_key())
    node_tests(
        "fal.test.mjs",
        {**env, "TILEWORK_URL": tls_server.url, "PHOTO": str(photo)},
        count=8,
    )
