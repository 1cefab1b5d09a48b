"""Output destinations, in process: a tenant's own bucket (moto's S3 server) that jobs deliver
their outputs to, on SQLite with local storage and on PostgreSQL with S3 storage. Saved only
once tilework could write there, credentials sealed and never shown; delivered objects are
the tenant's and the sweeper never touches them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import obstore
import pytest
import pyvips
import sqlalchemy as sa
from obstore.store import S3Store

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server
from tilework.retention.sweeper import Sweeper
from tilework.store.schema import destinations

if TYPE_CHECKING:
    from obstore.store import S3Config


@pytest.fixture(params=["sqlite+local", "postgresql+s3"])
def app(request: pytest.FixtureRequest, make_api: MakeApi, s3_server: S3Server) -> InProcessApi:
    backend, storage = request.param.split("+")
    overrides: dict[str, Any] = {"fetch_allow_hosts": LOOPBACK}
    if storage == "s3":
        overrides |= s3_server.settings(s3_server.new_bucket(), "tilework")
    return make_api(backend, **overrides)


def destination_body(s3: S3Server, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "endpoint": s3.endpoint,
        "region": REGION,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
        **extra,
    }


def bucket_keys(s3: S3Server, bucket: str) -> list[str]:
    """Every key in the bucket, read with obstore directly (not through tilework)."""
    config: S3Config = {
        "endpoint": s3.endpoint,
        "region": REGION,
        "access_key_id": ACCESS_KEY,
        "secret_access_key": SECRET_KEY,
    }
    store = S3Store(bucket, config=config, client_options={"allow_http": True})
    return sorted(str(meta["path"]) for batch in obstore.list(store) for meta in batch)


def public_bucket(s3: S3Server) -> str:
    """A new bucket anyone may read, by its policy, as a public destination's bucket is
    (tilework never makes objects public itself: R2 and Supabase have no object ACLs)."""
    bucket = s3.new_bucket()
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    httpx.put(f"{s3.endpoint}/{bucket}?policy", content=json.dumps(policy)).raise_for_status()
    return bucket


def read(url: str) -> bytes:
    answer = httpx.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
    return answer.content


def run_delivered(
    app: InProcessApi,
    photo: Path,
    operation: str,
    params: dict[str, Any],
    destination: Any,
    before_work: Callable[[], None] = lambda: None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit a job that names ``destination``, run the queue dry: the job as it was
    submitted, and as it ended."""
    with app.client() as client:
        key = client.upload(photo)["key"]
        body = {"operation": operation, "input": {"key": key}, "params": params}
        answer = app.http.post("/v1/jobs", json={**body, "destination": destination})
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        before_work()
        app.work()
        return created, client.job(created["id"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_job_delivers_its_output_where_the_template_says_and_the_sweeper_leaves_it(
    app: InProcessApi, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    body = destination_body(
        s3_server, bucket, prefix="app", path_template="thumbs/{user_id}/{job_id}-{width}.{ext}"
    )
    saved = app.http.put("/v1/tenants/default/destinations/thumbs", json=body)
    assert saved.status_code == 201, saved.text
    assert saved.json()["credentials"] == "set"
    assert SECRET_KEY not in saved.text and ACCESS_KEY not in saved.text
    assert app.http.put("/v1/tenants/default/destinations/thumbs", json=body).status_code == 200
    # Sealed in the database: neither key is in the row.
    with app.services.database.read() as conn:
        sealed = conn.execute(sa.select(destinations.c.credentials)).scalar_one()
    assert sealed.startswith("v1:") and SECRET_KEY not in sealed and ACCESS_KEY not in sealed

    photo = images.photo(tmp_path / "photo.jpg", 40, 30)
    destination = {"name": "thumbs", "vars": {"user_id": "u-7"}}
    created, job = run_delivered(app, photo, "resize", {"width": 20, "format": "png"}, destination)
    assert created["progress"]["stages"][-1] == "deliver"
    assert job["status"] == "succeeded", job
    (output,) = job["outputs"]
    delivered_key = f"thumbs/u-7/{job['id']}-20.png"
    assert output["delivered"] == {"destination": "thumbs", "key": delivered_key, "url": None}
    assert bucket_keys(s3_server, bucket) == [f"app/{delivered_key}"]
    # A private destination's URL is signed by the destination's credentials, on its host.
    assert output["url"].startswith(f"{s3_server.endpoint}/{bucket}/app/thumbs/")
    assert "X-Amz-Signature=" in output["url"]
    assert sha256(read(output["url"])) == output["sha256"]

    # An equal job is answered from the cache, and still delivers, under its own key.
    created, again = run_delivered(
        app, photo, "resize", {"width": 20, "format": "png"}, destination
    )
    assert created["status"] == "queued"  # its delivery is still to run
    assert (again["status"], again["cached_from"]) == ("succeeded", job["id"])
    (copied,) = again["outputs"]
    assert copied["delivered"]["key"] == f"thumbs/u-7/{again['id']}-20.png"
    assert sha256(read(copied["url"])) == output["sha256"]
    delivered = sorted([f"app/{delivered_key}", f"app/{copied['delivered']['key']}"])
    assert bucket_keys(s3_server, bucket) == delivered

    # Retention takes the jobs and their files here; the delivered objects are the tenant's.
    changed = app.settings.model_copy(update={"retention_seconds": 0.001, "sweep_seconds": 0.01})
    assert Sweeper(changed, app.services.database, app.services.objects).turn()
    assert app.http.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert bucket_keys(s3_server, bucket) == delivered


def test_a_public_destination_lists_plain_urls_and_several_outputs_never_collide(
    app: InProcessApi, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = public_bucket(s3_server)
    body = destination_body(s3_server, bucket, public=True, path_template="palettes/{job_id}.png")
    assert app.http.put("/v1/tenants/default/destinations/pub", json=body).status_code == 201
    photo = images.photo(tmp_path / "photo.png", 24, 18)
    palettes = {"palettes": [["#102030", "#f0e0d0"], ["#ff0000", "#00ff00"]]}
    _, job = run_delivered(app, photo, "palette", palettes, "pub")
    assert job["status"] == "succeeded", job
    urls = [output["url"] for output in job["outputs"]]
    keys = [f"palettes/{job['id']}-{index}.png" for index in range(2)]
    assert urls == [f"{s3_server.endpoint}/{bucket}/{key}" for key in keys]
    assert [output["delivered"]["url"] for output in job["outputs"]] == urls
    assert bucket_keys(s3_server, bucket) == keys
    for output in job["outputs"]:
        assert sha256(read(output["url"])) == output["sha256"]


def test_a_render_projects_result_url_points_at_its_destination(
    app: InProcessApi, s3_server: S3Server, tmp_path: Path
) -> None:
    """The render contract unchanged: a project with a destination answers its URL there."""
    images.photo(tmp_path / "photo.jpg", 64, 48)
    stripes = np.repeat(np.tile(np.array([30, 230] * 4, np.uint8), (8, 1))[:, :, None], 3, 2)
    pyvips.Image.new_from_array(stripes, interpretation="srgb").pngsave(
        str(tmp_path / "texture.png")
    )
    bucket = public_bucket(s3_server)
    template = "renders/{user_id}/{project_id}-{job_id}.png"
    body = destination_body(
        s3_server, bucket, public=True, path_template=template, render_projects=["p-1"]
    )
    assert app.http.put("/v1/tenants/default/destinations/renders", json=body).status_code == 201
    with serving(tmp_path) as base:
        asked = {"image_url": f"{base}/photo.jpg", "texture_url": f"{base}/texture.png"}
        mine = app.http.post("/render/jobs", json={**asked, "project_id": "p-1", "user_id": "u"})
        other = app.http.post("/render/jobs", json={**asked, "project_id": "p-2", "user_id": "u"})
        assert mine.status_code == other.status_code == 201, (mine.text, other.text)
        app.work()
    done = app.http.get(f"/render/jobs/{mine.json()['job_id']}").json()
    assert done["status"] == "completed", done
    job_id = done["job_id"]
    assert done["result_url"] == f"{s3_server.endpoint}/{bucket}/renders/u/p-1-{job_id}.png"
    assert read(done["result_url"])[:8] == b"\x89PNG\r\n\x1a\n"
    # Another project has no destination: its result stays here, as before.
    kept = app.http.get(f"/render/jobs/{other.json()['job_id']}").json()
    assert kept["status"] == "completed" and f"/{bucket}/" not in kept["result_url"]
    assert bucket_keys(s3_server, bucket) == [f"renders/u/p-1-{job_id}.png"]


def test_destinations_are_refused_with_the_field_at_fault(
    app: InProcessApi, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()

    def refused(name: str, body: dict[str, Any]) -> str:
        answer = app.http.put(f"/v1/tenants/default/destinations/{name}", json=body)
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["error"]["details"]["errors"]
        return str(error["field"])

    missing = destination_body(s3_server, "no-such-bucket-here")
    assert refused("gone", missing) == "credentials"
    assert refused("bad", destination_body(s3_server, bucket, path_template="{a.b}")) == (
        "path_template"
    )
    assert refused("up", destination_body(s3_server, bucket, path_template="../{job_id}")) == (
        "path_template"
    )
    half = {key: value for key, value in destination_body(s3_server, bucket).items()}
    del half["secret_access_key"]
    answer = app.http.put("/v1/tenants/default/destinations/half", json=half)
    assert answer.status_code == 422
    own = app.settings.resolved_storage_url
    if own.startswith("s3://"):  # tilework's own storage is not a destination
        own_bucket = own.removeprefix("s3://").split("/")[0]
        assert refused("own", destination_body(s3_server, own_bucket)) == "prefix"
    assert app.http.get("/v1/destinations").json()["items"] == []

    # Only admin keys save them; any key of the tenant lists its own, without credentials.
    body = destination_body(s3_server, bucket, path_template="{user_id}/{job_id}.{ext}")
    with app.tenant() as tenant:
        name = tenant.current_key()["tenant"]
        denied = tenant._http.put(f"/v1/tenants/{name}/destinations/mine", json=body)
        assert denied.status_code == 403
        assert app.http.put(f"/v1/tenants/{name}/destinations/mine", json=body).status_code == 201
        (listed,) = tenant._http.get("/v1/destinations").json()["items"]
        assert listed["name"] == "mine" and listed["credentials"] == "set"
        assert SECRET_KEY not in str(listed)
        # A job names one of its tenant's, with the vars its template needs.
        photo = tenant.upload(images.photo(tmp_path / "p.png", 10, 10))["key"]
        job: dict[str, Any] = {"operation": "resize", "input": {"key": photo}}
        for destination, field in [
            ({"name": "nowhere"}, "destination.name"),
            ({"name": "mine"}, "destination.vars"),
            ({"name": "mine", "vars": {"user_id": "../x"}}, "destination.vars"),
        ]:
            answer = tenant._http.post(
                "/v1/jobs", json={**job, "params": {"width": 5}, "destination": destination}
            )
            assert answer.status_code == 422, answer.text
            assert field in answer.text, answer.text
    # The admin's tenant cannot name another tenant's destination.
    with app.client() as client:
        own = client.upload(images.photo(tmp_path / "own.png", 10, 10))["key"]
    answer = app.http.post(
        "/v1/jobs",
        json={
            "operation": "resize",
            "input": {"key": own},
            "params": {"width": 5},
            "destination": {"name": "mine", "vars": {"user_id": "u"}},
        },
    )
    assert answer.status_code == 422 and "destination.name" in answer.text


def test_a_destination_removed_before_delivery_fails_the_job_with_upload_failed(
    app: InProcessApi, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    body = destination_body(s3_server, bucket)
    assert app.http.put("/v1/tenants/default/destinations/soon", json=body).status_code == 201

    def remove() -> None:  # after the job was submitted, before it delivered
        path = "/v1/tenants/default/destinations/soon"
        assert app.http.delete(path).status_code == 204
        assert app.http.delete(path).status_code == 404

    photo = images.photo(tmp_path / "p.png", 10, 10)
    _, job = run_delivered(app, photo, "resize", {"width": 5}, "soon", remove)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "upload_failed" and "soon" in job["error"]["message"]
    assert bucket_keys(s3_server, bucket) == []
