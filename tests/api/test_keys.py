"""API keys and tenants in process: every /v1 route wants a key and refuses alike, keys are kept
as hashes, one tenant never sees another's jobs, uploads, outputs or events, and the per-key
limits. The same promises run on PostgreSQL in ``tests/acceptance/test_tenants.py``."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from tests.support import images
from tests.support.api import InProcessApi, MakeApi, error_of
from tests.support.loopback import LOOPBACK
from tests.support.receiver import receiving
from tests.support.tenancy import Finish, check_every_route_wants_a_key, check_tenants_apart
from tilework.client import ApiError, Client, JobBody
from tilework.service.access import CACHE_SECONDS


def finish(api: InProcessApi) -> Finish:
    def run(client: Client, job_id: str) -> JobBody:
        api.work()
        return client.job(job_id)

    return run


def test_every_v1_route_wants_a_key_and_refusals_look_alike(
    api: InProcessApi, client: Client
) -> None:
    with api.anonymous() as anyone:
        check_every_route_wants_a_key(client, anyone, api.admin_key)


def test_keys_are_stored_as_hashes_and_only_admins_manage_them(
    api: InProcessApi, client: Client
) -> None:
    created = client.create_key("acme", "hash check")
    listed = {key["id"]: key for key in client.keys()["items"]}
    secret = created["key"]
    assert secret.startswith("tw_") and len(secret) == 46
    assert listed[created["id"]]["prefix"] == secret[:10]
    assert "key" not in listed[created["id"]]
    database = Path(api.settings.database_url.removeprefix("sqlite:///"))
    stored = database.read_bytes() + b"".join(
        p.read_bytes() for p in database.parent.glob(database.name + "-wal")
    )
    assert secret.encode() not in stored
    with sqlite3.connect(database) as db:
        (digest,) = db.execute(
            "select secret_sha256 from api_keys where id = ?", (created["id"],)
        ).fetchone()
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    with api.tenant() as acme:
        for attempt in (
            lambda: acme.create_key("acme", "self-made"),
            lambda: acme.keys(),
            lambda: acme.revoke_key(created["id"]),
        ):
            with pytest.raises(ApiError) as refused:
                attempt()
            assert refused.value.status == 403
        assert acme.current_key()["tenant"].startswith("t-")


def test_roles_a_read_only_key_reads_and_changes_nothing(api: InProcessApi, tmp_path: Path) -> None:
    """Roles are on the key (``role``: read_only, operator, admin), and /v1 honours them: a
    read-only key of a tenant reads that tenant's jobs and files and is refused every change."""
    with api.client() as admin:
        operator = admin.create_key("roles", "works")
        reader = admin.create_key("roles", "watches", role="read_only")
        made_admin = admin.create_key("roles", "old style", admin=True)
        listed = {key["id"]: key for key in admin.keys()["items"]}
        refused = admin._http.post(
            "/v1/keys", json={"tenant": "roles", "name": "x", "admin": True, "role": "operator"}
        )
    assert error_of(refused) == (422, "validation_failed")
    assert refused.json()["error"]["details"]["errors"][0]["field"] == "role"
    assert (operator["role"], operator["admin"]) == ("operator", False)
    assert (listed[reader["id"]]["role"], listed[made_admin["id"]]["role"]) == (
        "read_only",
        "admin",
    )
    with api.client(operator["key"]) as works, api.client(reader["key"]) as watches:
        image = images.photo(tmp_path / "p.png", 8, 8)
        job = works.submit("resize", key=works.upload(image)["key"], params={"width": 4})
        assert watches.job(job["id"])["id"] == job["id"]
        assert [each["id"] for each in watches.jobs()["items"]] == [job["id"]]
        assert watches.current_key()["role"] == "read_only"
        for change in (
            lambda: watches.upload(image),
            lambda: watches.submit("resize", key="whatever.png", params={"width": 4}),
            lambda: watches.cancel(job["id"]),
            lambda: watches.create_key("roles", "escalate"),
        ):
            with pytest.raises(ApiError) as no:
                change()
            assert (no.value.status, no.value.code) == (403, "forbidden"), no.value
        assert works.cancel(job["id"])["status"] == "canceled"


def test_another_tenants_ids_are_404_everywhere(api: InProcessApi, tmp_path: Path) -> None:
    with api.tenant() as acme, api.tenant() as globex, api.anonymous() as anyone:
        done = check_tenants_apart(acme, globex, anyone, finish(api), tmp_path)
        tenant = acme.current_key()["tenant"]
    objects = api.settings.home / "objects"
    assert (objects / "tenants" / tenant / done["outputs"][0]["key"]).is_file()


def test_webhooks_are_signed_with_the_tenants_own_secret(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(fetch_allow_hosts=LOOPBACK)  # the receiver is on loopback
    with api.tenant() as acme, api.tenant() as globex:
        secrets = {
            name: client._http.get("/v1/webhooks/default/secret").json()["key"]
            for name, client in (("acme", acme), ("globex", globex))
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
            api.work()
            (message,) = receiver.wait_for(1, "/hook")
    verified = Webhook(secrets["acme"]).verify(message.body, message.headers)
    assert verified["data"]["id"] == job["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook(secrets["globex"]).verify(message.body, message.headers)


def test_a_key_past_its_rate_is_429_with_retry_after(api: InProcessApi) -> None:
    with api.tenant(rate_per_minute=3) as slow:
        answers = [slow._http.get("/v1/jobs") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_a_key_past_its_open_jobs_is_429(api: InProcessApi, tmp_path: Path) -> None:
    # No worker runs: jobs stay queued.
    with api.tenant(max_queued_jobs=2) as client:
        key = client.upload(images.photo(tmp_path / "p.jpg", 16, 16))["key"]
        first = [client.submit("noop", key=key) for _ in range(2)]
        with pytest.raises(ApiError) as refused:
            client.submit("noop", key=key)
        assert (refused.value.status, refused.value.code) == (429, "rate_limited")
        client.cancel(first[0]["id"])
        assert client.submit("noop", key=key)["status"] == "queued"


def test_a_revoked_key_is_refused_at_once_on_its_host(api: InProcessApi) -> None:
    with api.tenant() as doomed:
        assert doomed.jobs()["items"] == []
        key_id = doomed.current_key()["id"]
        with api.client() as admin:
            assert admin.revoke_key(key_id)["revoked_at"] is not None
        with pytest.raises(ApiError) as revoked:
            doomed.jobs()
    assert revoked.value.status == 401


def test_a_revocation_reaches_another_api_host_within_its_key_cache(make_api: MakeApi) -> None:
    """Two API hosts on one database: the other host knew the key (cached) and refuses it
    once its cache entry lapses, within ``CACHE_SECONDS`` of the revocation."""
    here = make_api()
    there = make_api(home=here.settings.home, database_url=here.settings.database_url)
    secret = here.tenant_key()
    with here.client(secret) as on_here, there.client(secret) as on_there:
        assert on_there.jobs()["items"] == []  # known there now, and cached
        with here.client() as admin:
            admin.revoke_key(on_here.current_key()["id"])
        revoked_at = time.monotonic()
        while True:
            try:
                on_there.jobs()
            except ApiError as refused:
                assert refused.status == 401
                break
            # Twice the cache: room for a loaded machine, far short of "never".
            assert time.monotonic() - revoked_at < 2 * CACHE_SECONDS, "still accepted"
            time.sleep(0.1)


def test_bodies_past_the_cap_are_413_and_cors_is_as_configured(make_api: MakeApi) -> None:
    """The body cap as the app applies it (uvicorn in front of it: the acceptance tier)."""
    api = make_api(max_request_bytes=4096, cors_origins=["https://app.example"])
    big = {"operation": "noop", "input": {"key": "uploads/x"}, "params": {"pad": "x" * 5000}}
    assert error_of(api.http.post("/v1/jobs", json=big)) == (413, "payload_too_large")
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    with api.anonymous() as anyone:
        allowed = anyone.options("/v1/jobs", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        stranger = anyone.options("/v1/jobs", headers={**preflight, "Origin": "https://evil.x"})
        assert "access-control-allow-origin" not in stranger.headers
