"""API keys and tenants over the real server: every /v1 route wants a key, one tenant never
sees another's jobs, uploads, outputs or events, and the CLI manages keys."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests import images
from tests.receiver import receiving
from tests.server import ServerProcess, tilework_env
from tilework.client import ApiError, Client

# Routes that authenticate otherwise: a signed URL, a provider's signed webhook, probes, docs.
OPEN_ROUTES = {
    "/v1/files/{key}",
    "/v1/providers/{provider}/callbacks/{task_id}",
    "/healthz",
    "/readyz",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("keys")
    running = ServerProcess(folder / "home", workers=1).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def tenants(server: ServerProcess) -> Iterator[dict[str, Client]]:
    """A client for each of two tenants, with keys made by the admin key."""
    with server.client() as admin:
        made = {name: admin.create_key(name, f"{name} key")["key"] for name in ("acme", "globex")}
    clients = {name: Client(server.url, secret) for name, secret in made.items()}
    yield clients
    for client in clients.values():
        client.close()


def test_every_v1_route_wants_a_key_and_refusals_look_alike(server: ServerProcess) -> None:
    schema = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    with server.client() as admin:
        doomed = admin.create_key("acme", "to revoke")
        admin.revoke_key(doomed["id"])
    attempts = {
        "none": {},
        "wrong scheme": {"Authorization": f"Basic {server.api_key}"},
        "malformed": {"Authorization": "Bearer tw_short"},
        "unknown": {"Authorization": "Bearer tw_" + "x" * 43},
        "revoked": {"Authorization": f"Bearer {doomed['key']}"},
    }
    checked = 0
    for path, methods in schema["paths"].items():
        if path in OPEN_ROUTES:
            continue
        concrete = path.replace("{", "").replace("}", "")  # any id will do: auth comes first
        for method in methods:
            bodies = set()
            for headers in attempts.values():
                answer = httpx.request(method, f"{server.url}{concrete}", headers=headers)
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.headers["www-authenticate"].startswith("Bearer")
                bodies.add(answer.text)
            assert len(bodies) == 1, (method, path, bodies)
            checked += 1
    assert checked >= 15


def test_keys_are_stored_as_hashes_and_only_admins_manage_them(
    server: ServerProcess, tenants: dict[str, Client]
) -> None:
    with server.client() as admin:
        created = admin.create_key("acme", "hash check")
        listed = {key["id"]: key for key in admin.keys()["items"]}
    secret = created["key"]
    assert secret.startswith("tw_") and len(secret) == 46
    assert listed[created["id"]]["prefix"] == secret[:10]
    assert "key" not in listed[created["id"]]
    database = (server.home / "tilework.db").read_bytes()
    database += b"".join(p.read_bytes() for p in server.home.glob("tilework.db-wal"))
    assert secret.encode() not in database
    with sqlite3.connect(server.home / "tilework.db") as db:
        (digest,) = db.execute(
            "select secret_sha256 from api_keys where id = ?", (created["id"],)
        ).fetchone()
    assert len(digest) == 64
    for attempt in (
        lambda: tenants["acme"].create_key("acme", "self-made"),
        lambda: tenants["acme"].keys(),
        lambda: tenants["acme"].revoke_key(created["id"]),
    ):
        with pytest.raises(ApiError) as refused:
            attempt()
        assert refused.value.status == 403
    assert tenants["acme"].current_key()["tenant"] == "acme"


def test_another_tenants_ids_are_404_everywhere(
    server: ServerProcess, tenants: dict[str, Client], tmp_path: Path
) -> None:
    acme, globex = tenants["acme"], tenants["globex"]
    upload = acme.upload(images.photo(tmp_path / "p.jpg", 64, 48))
    job = acme.submit("resize", key=upload["key"], params={"width": 16, "format": "png"})
    done = acme.wait(job["id"], timeout=60)
    assert done["status"] == "succeeded"
    output_url = done["outputs"][0]["url"]
    assert "/tenants/acme/" in output_url
    assert (server.home / "objects" / "tenants" / "acme" / done["outputs"][0]["key"]).is_file()

    theirs = globex._http
    for method, path in (
        ("GET", f"/v1/jobs/{job['id']}"),
        ("POST", f"/v1/jobs/{job['id']}/cancel"),
        ("GET", f"/v1/jobs/{job['id']}/events"),
        ("GET", f"/v1/jobs/{job['id']}/deliveries"),
        ("GET", f"/v1/predictions/{job['id']}"),
        ("POST", f"/v1/predictions/{job['id']}/cancel"),
    ):
        answer = theirs.request(method, path)
        assert answer.status_code == 404, (method, path, answer.text)
    assert theirs.get(f"/render/jobs/{job['id']}").json() == {"error": "job_not_found"}
    assert globex.jobs()["items"] == []
    assert theirs.get("/v1/predictions").json()["results"] == []
    assert [item["id"] for item in acme.jobs()["items"]] == [job["id"]]
    # The same upload key names nothing in another tenant's store.
    with pytest.raises(ApiError) as missing:
        globex.submit("resize", key=upload["key"], params={"width": 16})
    assert missing.value.code == "validation_failed"
    # The signed URL signs the tenant's prefix: pointing it at another tenant fails.
    assert httpx.get(output_url, timeout=10).status_code == 200
    moved = output_url.replace("/tenants/acme/", "/tenants/globex/")
    assert httpx.get(moved, timeout=10).status_code == 403
    # Idempotency keys are per tenant too.
    mine = acme.submit("noop", key=upload["key"], idempotency_key="order-1")
    other = globex.submit(
        "noop", key=globex.upload(tmp_path / "p.jpg")["key"], idempotency_key="order-1"
    )
    assert mine["id"] != other["id"]


def test_webhooks_are_signed_with_the_tenants_own_secret(
    tenants: dict[str, Client], tmp_path: Path
) -> None:
    acme = tenants["acme"]
    secrets = {
        name: client._http.get("/v1/webhooks/default/secret").json()["key"]
        for name, client in tenants.items()
    }
    assert secrets["acme"] != secrets["globex"]
    key = acme.upload(images.photo(tmp_path / "w.jpg", 32, 32))["key"]
    with receiving() as receiver:
        body = {
            "operation": "noop",
            "input": {"key": key},
            "webhook": {"url": f"{receiver.url}/hook", "events": ["succeeded"]},
        }
        job = acme._http.post("/v1/jobs", json=body).json()
        (message,) = receiver.wait_for(1, "/hook")
    assert Webhook(secrets["acme"]).verify(message.body, message.headers)["data"]["id"] == job["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(secrets["globex"]).verify(message.body, message.headers)


def test_the_cli_creates_lists_and_revokes_keys(server: ServerProcess) -> None:
    env = tilework_env(server.home, url=server.url)

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "tilework", *args], env=env, capture_output=True, timeout=60
        )
        assert done.returncode == 0, done.stderr.decode()
        return json.loads(done.stdout)

    created = cli("keys", "create", "--tenant", "initech", "--name", "ci", "--rate-per-minute", "9")
    assert created["tenant"] == "initech" and created["rate_per_minute"] == 9
    with Client(server.url, created["key"]) as initech:
        assert initech.jobs()["items"] == []
        listed = {key["id"]: key for key in cli("keys", "list")["items"]}
        assert listed[created["id"]]["revoked_at"] is None
        assert cli("keys", "revoke", created["id"])["revoked_at"] is not None
        with pytest.raises(ApiError) as revoked:
            initech.jobs()
    assert revoked.value.status == 401


def test_a_key_past_its_rate_is_429_with_retry_after(server: ServerProcess) -> None:
    with server.client() as admin:
        slow = admin.create_key("acme", "slow", rate_per_minute=3)
    headers = {"Authorization": f"Bearer {slow['key']}"}
    answers = [httpx.get(f"{server.url}/v1/jobs", headers=headers) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_a_key_past_its_open_jobs_is_429(tmp_path: Path) -> None:
    idle = ServerProcess(tmp_path / "home", workers=0).start()  # nothing runs: jobs stay queued
    try:
        with idle.client() as admin:
            capped = admin.create_key("acme", "capped", max_queued_jobs=2)
            key = admin.upload(images.photo(tmp_path / "p.jpg", 16, 16))["key"]
        with Client(idle.url, capped["key"]) as client:
            key = client.upload(tmp_path / "p.jpg")["key"]
            first = [client.submit("noop", key=key) for _ in range(2)]
            with pytest.raises(ApiError) as refused:
                client.submit("noop", key=key)
            assert (refused.value.status, refused.value.code) == (429, "rate_limited")
            client.cancel(first[0]["id"])
            assert client.submit("noop", key=key)["status"] == "queued"
    finally:
        assert idle.stop() == 0, idle.log()


def test_bodies_past_the_cap_are_413_and_cors_is_as_configured(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "home",
        workers=0,
        max_request_bytes=4096,
        cors_origins=json.dumps(["https://app.example"]),
    ).start()
    try:
        big = {"operation": "noop", "input": {"key": "uploads/x"}, "params": {"pad": "x" * 5000}}
        answer = server.http.post("/v1/jobs", json=big)
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "payload_too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield json.dumps(big).encode()

        answer = server.http.post(
            "/v1/jobs", content=chunked(), headers={"content-type": "application/json"}
        )
        assert (answer.status_code, answer.json()["error"]["code"]) == (413, "payload_too_large")
        small = server.http.post("/v1/jobs", content=iter([b'{"operation": "noop"}']))
        assert small.json()["error"]["code"] == "validation_failed"  # read, then judged
        # A prediction's image may come inline, so its cap is the upload cap, in base64.
        photo = images.photo(tmp_path / "inline.png", 64, 64).read_bytes()
        assert len(photo) > 4096
        inline = "data:image/png;base64," + base64.b64encode(photo).decode()
        body = {"input": {"image": inline, "width": 8}}
        created = server.http.post("/v1/models/tilework/resize/predictions", json=body)
        assert created.status_code == 201, created.text
        preflight = {
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        allowed = httpx.options(f"{server.url}/v1/jobs", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        stranger = httpx.options(
            f"{server.url}/v1/jobs", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in stranger.headers
    finally:
        assert server.stop() == 0, server.log()
