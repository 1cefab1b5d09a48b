"""Replicate's files API in process: multipart uploads as the official clients send them, the
File object, one id per file over bytes stored once per tenant and counted, tenants kept apart,
the upload checks, and file URLs resolved as prediction inputs without a fetch. On SQLite and
PostgreSQL, whose locking the byte count relies on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import BASE_URL, InProcessApi, MakeApi
from tests.support.databases import BACKENDS
from tests.support.rows import execute, query
from tilework.objects.paths import file_key
from tilework.objects.tenants import TenantObjects


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, make_api: MakeApi) -> InProcessApi:
    return make_api(request.param)


@pytest.fixture
def tenant(api: InProcessApi) -> Iterator[httpx.Client]:
    """Requests as a new tenant's key."""
    with api.anonymous() as anyone:
        anyone.headers["Authorization"] = f"Bearer {api.tenant_key()}"
        yield anyone


def upload(
    http: httpx.Client, data: bytes, name: str = "photo.jpg", **fields: str
) -> httpx.Response:
    return http.post("/v1/files", files={"content": (name, data, "image/jpeg")}, data=fields)


def problem(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["status"] == response.status_code and body["detail"], body
    return response.status_code, body["code"]


def stored(api: InProcessApi, sha256: str) -> bool:
    """Whether the bytes are in the object store, under any tenant's prefix."""
    tenants = query(api.settings.resolved_database_url, "SELECT DISTINCT tenant FROM api_keys")
    objects = api.services.objects
    return any(TenantObjects(objects, row.tenant).exists(file_key(sha256)) for row in tenants)


def test_a_file_is_created_shown_listed_downloaded_and_deleted(
    tenant: httpx.Client, photo: Path
) -> None:
    data = photo.read_bytes()
    created = upload(tenant, data, metadata=json.dumps({"purpose": "test"}))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "photo.jpg"
    assert body["content_type"] == "image/jpeg"
    assert body["size"] == len(data)
    assert body["metadata"] == {"purpose": "test"}
    assert body["checksums"]["sha256"] == body["etag"] and len(body["etag"]) == 64
    assert body["expires_at"] > body["created_at"]
    assert body["urls"]["get"] == f"{BASE_URL}/v1/files/{body['id']}"

    assert tenant.get(f"/v1/files/{body['id']}").json() == body
    assert [found["id"] for found in tenant.get("/v1/files").json()["results"]] == [body["id"]]
    downloaded = tenant.get(f"/v1/files/{body['id']}/download")
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "image/jpeg"

    assert tenant.delete(f"/v1/files/{body['id']}").status_code == 204
    assert problem(tenant.get(f"/v1/files/{body['id']}")) == (404, "not_found")
    assert problem(tenant.delete(f"/v1/files/{body['id']}")) == (404, "not_found")
    assert tenant.get("/v1/files").json()["results"] == []


def test_metadata_sent_as_a_json_part_as_the_npm_client_sends_it(
    tenant: httpx.Client, photo: Path
) -> None:
    parts = {
        "content": ("buffer_1", photo.read_bytes(), "application/octet-stream"),
        "metadata": ("blob", b'{"a": [1, 2]}', "application/json"),
    }
    created = tenant.post("/v1/files", files=parts)
    assert created.status_code == 201, created.text
    # The type is the one the bytes announce, not the one declared.
    assert created.json()["content_type"] == "image/jpeg"
    assert created.json()["metadata"] == {"a": [1, 2]}


def test_files_of_the_same_bytes_each_keep_them_until_the_last_goes(
    api: InProcessApi, tenant: httpx.Client, photo: Path
) -> None:
    data = photo.read_bytes()
    first, second = (upload(tenant, data).json() for _ in range(2))
    assert first["id"] != second["id"] and first["etag"] == second["etag"]
    assert stored(api, first["etag"])

    assert tenant.delete(f"/v1/files/{first['id']}").status_code == 204
    assert tenant.get(f"/v1/files/{second['id']}/download").content == data
    assert tenant.delete(f"/v1/files/{second['id']}").status_code == 204
    assert not stored(api, first["etag"])
    # Stored again by a later file of the same bytes.
    third = upload(tenant, data).json()
    assert tenant.get(f"/v1/files/{third['id']}/download").content == data


def test_another_tenants_file_is_not_found_anywhere(
    api: InProcessApi, tenant: httpx.Client, photo: Path
) -> None:
    theirs = upload(tenant, photo.read_bytes()).json()
    with api.anonymous() as other:
        other.headers["Authorization"] = f"Bearer {api.tenant_key()}"
        assert problem(other.get(f"/v1/files/{theirs['id']}")) == (404, "not_found")
        assert problem(other.get(f"/v1/files/{theirs['id']}/download")) == (404, "not_found")
        assert problem(other.delete(f"/v1/files/{theirs['id']}")) == (404, "not_found")
        assert other.get("/v1/files").json()["results"] == []
        prediction = other.post(
            "/v1/models/tilework/resize/predictions",
            json={"input": {"image": theirs["urls"]["get"], "width": 8}},
        )
        assert problem(prediction) == (404, "not_found")
    assert tenant.get(f"/v1/files/{theirs['id']}").status_code == 200


def test_a_prediction_naming_a_file_url_uses_the_file_without_fetching_it(
    api: InProcessApi, tenant: httpx.Client, photo: Path
) -> None:
    """The app's host (``testserver``) resolves nowhere: a fetch could only fail."""
    file = upload(tenant, photo.read_bytes()).json()
    created = tenant.post(
        "/v1/models/tilework/resize/predictions",
        json={"input": {"image": file["urls"]["get"], "width": 64}},
    )
    assert created.status_code == 201, created.text
    api.work()
    done = tenant.get(f"/v1/predictions/{created.json()['id']}").json()
    assert done["status"] == "succeeded", done
    output = tenant.get(done["output"])
    assert output.status_code == 200 and output.content[:3] == b"\xff\xd8\xff"


def test_an_expired_file_is_gone(api: InProcessApi, tenant: httpx.Client, photo: Path) -> None:
    file = upload(tenant, photo.read_bytes()).json()
    execute(api.settings.resolved_database_url, "UPDATE files SET expires_at = 0")
    assert problem(tenant.get(f"/v1/files/{file['id']}")) == (404, "not_found")
    assert tenant.get("/v1/files").json()["results"] == []


def test_files_list_in_pages(tenant: httpx.Client, photo: Path) -> None:
    data = photo.read_bytes()
    made = [upload(tenant, data, name=f"{n}.jpg").json()["id"] for n in range(3)]
    page = tenant.get("/v1/files", params={"limit": 2}).json()
    assert [found["id"] for found in page["results"]] == made[:0:-1]
    rest = tenant.get(page["next"]).json()
    assert [found["id"] for found in rest["results"]] == made[:1] and rest["next"] is None


@pytest.mark.parametrize(
    ("parts", "fields", "answer"),
    [
        ({"content": ("a.txt", b"not an image at all", "text/plain")}, {}, 415),
        ({"content": ("a.jpg", b"", "image/jpeg")}, {}, 422),
        ({"other": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}, {}, 422),
        (None, {"content": "a field, not a file"}, 422),
        ({"content": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}, {"metadata": "{"}, 422),
        ({"content": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}, {"metadata": "[1]"}, 422),
    ],
)
def test_what_is_not_an_image_file_is_refused_with_its_code(
    tenant: httpx.Client,
    parts: dict[str, tuple[str, bytes, str]] | None,
    fields: dict[str, str],
    answer: int,
) -> None:
    refused = tenant.post("/v1/files", files=parts, data=fields)
    assert refused.status_code == answer, refused.text
    assert tenant.get("/v1/files").json()["results"] == []


def test_a_json_body_is_not_a_file(tenant: httpx.Client) -> None:
    assert problem(tenant.post("/v1/files", json={"content": "x"})) == (
        422,
        "validation_failed",
    )


def test_files_larger_than_the_upload_cap_are_refused_declared_or_chunked(
    make_api: MakeApi, photo: Path
) -> None:
    api = make_api(max_upload_bytes=10_000)
    big = photo.read_bytes()[:3] + b"\0" * 2_000_000
    with api.anonymous() as tenant:
        tenant.headers["Authorization"] = f"Bearer {api.tenant_key()}"
        assert problem(upload(tenant, big)) == (413, "payload_too_large")
        request = httpx.Request("POST", "/", files={"content": ("a.jpg", big, "image/jpeg")})
        body, content_type = request.read(), request.headers["content-type"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        chunked = tenant.post("/v1/files", content=chunks(), headers={"Content-Type": content_type})
        assert chunked.status_code == 413, chunked.text
        assert tenant.get("/v1/files").json()["results"] == []


def test_a_url_signed_before_objects_moved_is_still_served_until_it_expires(
    api: InProcessApi, photo: Path
) -> None:
    signer = api.services.objects.signer  # type: ignore[attr-defined]
    key = api.http.post("/v1/uploads", content=photo.read_bytes()).json()["key"]
    full_key = f"tenants/default/{key}"
    old = signer.sign(full_key, 60).replace("/v1/objects/", "/v1/files/")
    expired = signer.sign(full_key, -1).replace("/v1/objects/", "/v1/files/")
    with api.anonymous() as anyone:
        assert anyone.get(old).content == photo.read_bytes()
        assert anyone.get(expired).status_code == 403
