"""The promises of keys, tenants and credits, written once and checked twice: in process on
SQLite (``tests/api``) and through real servers on SQLite and PostgreSQL
(``tests/acceptance/test_tenants.py``), where the production backend's SQL answers.

``finish`` runs a job to its end and returns it as the API shows it: the in-process app runs
its queue dry, a real server's workers are waited for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import images
from tilework.client import ApiError, Client, JobBody

Finish = Callable[[Client, str], JobBody]

# Routes that authenticate otherwise: a signed URL, a provider's signed webhook, probes, docs,
# the public key of fal-style webhooks.
OPEN_ROUTES = {
    "/v1/objects/{key}",
    "/fal/storage/upload/{file_id}",
    "/.well-known/jwks.json",
    "/v1/providers/{provider}/callbacks/{task_id}",
    "/healthz",
    "/readyz",
}


def check_every_route_wants_a_key(admin: Client, anyone: httpx.Client, admin_key: str) -> None:
    """Every route in the OpenAPI document but the open ones answers a missing, wrongly
    schemed, malformed, unknown or revoked key with one identical 401."""
    schema = anyone.get("/openapi.json").json()
    doomed = admin.create_key("acme", "to revoke")
    admin.revoke_key(doomed["id"])
    attempts = {
        "none": {},
        "wrong scheme": {"Authorization": f"Basic {admin_key}"},
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
                answer = anyone.request(method, concrete, headers=headers)
                assert answer.status_code == 401, (method, path, answer.text)
                assert answer.headers["www-authenticate"].startswith("Bearer")
                bodies.add(answer.text)
            assert len(bodies) == 1, (method, path, bodies)
            checked += 1
    assert checked >= 15


def check_tenants_apart(
    acme: Client, globex: Client, anyone: httpx.Client, finish: Finish, folder: Path
) -> dict[str, Any]:
    """Another tenant's job is 404 on every route, its uploads and outputs are out of reach,
    listings and idempotency keys are per tenant. Returns acme's finished job."""
    upload = acme.upload(images.photo(folder / "p.jpg", 64, 48))
    job = acme.submit("resize", key=upload["key"], params={"width": 16, "format": "png"})
    done = finish(acme, job["id"])
    assert done["status"] == "succeeded"
    tenant = acme.current_key()["tenant"]
    output_url = done["outputs"][0]["url"]
    assert f"/tenants/{tenant}/" in output_url

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
    assert anyone.get(output_url).status_code == 200
    other = globex.current_key()["tenant"]
    moved = output_url.replace(f"/tenants/{tenant}/", f"/tenants/{other}/")
    assert anyone.get(moved).status_code == 403
    # Idempotency keys are per tenant too.
    mine = acme.submit("noop", key=upload["key"], idempotency_key="order-1")
    theirs_too = globex.submit(
        "noop", key=globex.upload(folder / "p.jpg")["key"], idempotency_key="order-1"
    )
    assert mine["id"] != theirs_too["id"]
    return done


def check_credits(client: Client, finish: Finish, folder: Path) -> None:
    """For a key granted 10 credits: a success reserves, releases and charges what was made, a
    failure and a cancel release, a submit past the balance is 402; the ledger has it all."""
    photo = images.photo(folder / "p.png", 1000, 500)
    key = client.upload(photo)["key"]
    # 2000 x 1000 out: 2 megapixels, 2 credits.
    job = client.submit("resize", key=key, params={"width": 2000, "format": "png"})
    assert client.current_key()["credits"] == 8  # reserved at once
    assert finish(client, job["id"])["status"] == "succeeded"
    assert client.current_key()["credits"] == 8
    # An input that fails to decode: reserved, then released.
    broken = client.upload(images.truncated(photo, folder / "cut.png"))["key"]
    failed = client.submit("resize", key=broken, params={"width": 2000, "format": "png"})
    assert finish(client, failed["id"])["status"] == "failed"
    assert client.current_key()["credits"] == 8
    # A job that outputs nothing costs the minimum, 1; canceled, it is released.
    canceled = client.submit("test_sleep", key=key, params={"seconds": 30})
    assert client.current_key()["credits"] == 7
    client.cancel(canceled["id"])
    assert client.current_key()["credits"] == 8
    # More than is left: 402, nothing queued, nothing moved.
    with pytest.raises(ApiError) as short:
        client.submit("resize", key=key, params={"width": 5000, "format": "png"})
    assert (short.value.status, short.value.code) == (402, "insufficient_credits")
    assert short.value.details == {"cost": 12.5, "balance": 8}
    ledger = client.ledger()
    kinds = [(entry["kind"], entry["amount"], entry["job_id"]) for entry in ledger["items"]]
    assert kinds[::-1] == [
        ("grant", 10, None),
        ("reserve", -2, job["id"]),
        ("release", 2, job["id"]),
        ("charge", -2, job["id"]),
        ("reserve", -2, failed["id"]),
        ("release", 2, failed["id"]),
        ("reserve", -1, canceled["id"]),
        ("release", 1, canceled["id"]),
    ]
    assert ledger["items"][0]["balance"] == 8
