"""Retention and deletion, in process: the sweeper (``retention.sweeper``) on SQLite with local
storage and on PostgreSQL with moto's S3 server; ``DELETE /v1/jobs/{id}``; the counters that
say what went, which never go backwards."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.s3 import S3Server
from tilework.objects.tenants import TenantObjects
from tilework.retention.sweeper import Sweeper
from tilework.store.counters import totals
from tilework.store.duties import take_turn


@pytest.fixture(params=["sqlite+local", "postgresql+s3"])
def app(request: pytest.FixtureRequest, make_api: MakeApi) -> InProcessApi:
    backend, storage = request.param.split("+")
    # Uploads and files kept a second: each test sends its own, used at once.
    overrides: dict[str, Any] = {"retention_seconds": 3600, "upload_seconds": 1, "file_seconds": 1}
    if storage == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        overrides |= s3.settings(s3.new_bucket())
    return make_api(backend, **overrides)


def sweeper(app: InProcessApi, **settings: Any) -> Sweeper:
    changed = app.settings.model_copy(update=settings)
    return Sweeper(changed, app.services.database, app.services.objects)


def files_of(app: InProcessApi, job: dict[str, Any], tenant: str = "default") -> list[str]:
    return TenantObjects(app.services.objects, tenant).keys_under(f"jobs/{job['id']}/")


def counted(app: InProcessApi) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (each.name, tuple(sorted(each.labels.items()))): each.value
        for each in totals(app.services.database)
    }


def run_job(app: InProcessApi, photo: Path, operation: str, params: dict[str, Any]) -> Any:
    with app.client() as client:
        key = client.upload(photo)["key"]
        job = client.submit(operation, key=key, params=params)
        app.work()
        return client.job(job["id"])


def test_a_succeeded_jobs_intermediates_go_and_its_outputs_stay(
    app: InProcessApi, tmp_path: Path
) -> None:
    """A neural upscale leaves its tiles under jobs/<id>/tiles/; the sweep removes them and
    keeps the output, once."""
    photo = images.photo(tmp_path / "photo.jpg", 40, 30)
    job = run_job(app, photo, "upscale", {"scale": 2, "model": "animevideov3"})
    assert job["status"] == "succeeded"
    before = files_of(app, job)
    assert any("/tiles/" in key for key in before), before
    assert sweeper(app).turn()
    (output,) = job["outputs"]
    assert files_of(app, job) == [output["key"]]
    swept = counted(app)[("files_deleted_total", (("reason", "intermediate"),))]
    assert swept == len(before) - 1
    assert sweeper(app).turn() is False  # not due again for sweep_seconds


def test_ended_jobs_past_retention_go_with_their_rows_and_files(
    app: InProcessApi, tmp_path: Path
) -> None:
    """A failed job keeps what it made on the way until its own retention ends: here a job of
    steps whose second step fails, after the first stored its file."""
    photo = images.photo(tmp_path / "photo.jpg", 40, 30)
    failing = [
        {"operation": "resize", "params": {"width": 8, "format": "png"}},
        {"operation": "test_flaky", "params": {"fail_attempts": 9, "code": "validation_failed"}},
    ]
    with app.client() as client:
        body = {"input": {"key": client.upload(photo)["key"]}, "steps": failing}
        failed = app.http.post("/v1/jobs", json=body).json()
    old = run_job(app, photo, "resize", {"width": 8})
    failed = app.http.get(f"/v1/jobs/{failed['id']}").json()
    assert (failed["status"], old["status"]) == ("failed", "succeeded")
    # The succeeded job has no intermediates to clean; the failed job keeps its file.
    assert sweeper(app, sweep_seconds=0.01).turn()
    assert files_of(app, failed) == [f"jobs/{failed['id']}/steps/0/output.png"]
    time.sleep(1.1)
    young = run_job(app, photo, "resize", {"width": 9})
    with app.client() as client:
        opened = client.submit("resize", key=client.upload(photo)["key"], params={"width": 7})
    # What a running task has stored so far (a palette's source copy, a tile) is the open
    # job's: the sweep must not touch it.
    partial = tmp_path / "partial.png"
    partial.write_bytes(b"partial")
    TenantObjects(app.services.objects, "default").put_file(
        f"jobs/{opened['id']}/tiles/in/0.png", partial
    )
    assert files_of(app, old) and files_of(app, failed)
    assert sweeper(app, retention_seconds=1.0, sweep_seconds=0.01).turn()
    for gone in (old, failed):
        assert app.http.get(f"/v1/jobs/{gone['id']}").status_code == 404
        assert files_of(app, gone) == []
    assert app.http.get(f"/v1/jobs/{young['id']}").json()["status"] == "succeeded"
    assert files_of(app, young)
    assert app.http.get(f"/v1/jobs/{opened['id']}").json()["status"] == "queued"
    assert files_of(app, opened) == [f"jobs/{opened['id']}/tiles/in/0.png"]
    counts = counted(app)
    assert counts[("jobs_deleted_total", (("reason", "retention"),))] == 2
    assert counts[("jobs_failed_total", (("code", "validation_failed"), ("operation", "steps")))]
    # The counters route shows the same totals, to admin keys only.
    listed = app.http.get("/v1/counters").json()["items"]
    assert {"name": "jobs_deleted_total", "labels": {"reason": "retention"}, "value": 2.0} in (
        listed
    )
    with app.tenant() as tenant:
        refused = tenant._http.get("/v1/counters")
    assert refused.status_code == 403


def test_a_tenants_own_retention_and_zero_for_forever(app: InProcessApi, tmp_path: Path) -> None:
    photo = images.photo(tmp_path / "photo.jpg", 20, 15)
    key = app.tenant_key()
    with app.client(key) as tenant:
        theirs = tenant.submit("resize", key=tenant.upload(photo)["key"], params={"width": 5})
        tenant_name = tenant.current_key()["tenant"]
    mine = run_job(app, photo, "resize", {"width": 6})
    time.sleep(1.1)
    kept = sweeper(app, retention_seconds=1.0, tenant_retention_seconds={tenant_name: 0})
    assert kept.turn()
    assert app.http.get(f"/v1/jobs/{mine['id']}").status_code == 404
    with app.client(key) as tenant:
        assert tenant.job(theirs["id"])["status"] == "succeeded"


def test_one_host_sweeps_at_a_time(app: InProcessApi) -> None:
    first, second = sweeper(app), sweeper(app)
    second.holder = "another-host:1:retention"
    assert take_turn(app.services.database, "retention", first.holder, 60)
    assert not take_turn(app.services.database, "retention", second.holder, 60)


def test_delete_removes_an_ended_job_now_and_refuses_an_open_one(
    app: InProcessApi, tmp_path: Path
) -> None:
    photo = images.photo(tmp_path / "photo.jpg", 20, 15)
    done = run_job(app, photo, "resize", {"width": 5})
    with app.client() as client:
        # Not from the cache: the equal job's outputs would end it at once.
        queued = client.submit(
            "resize", key=client.upload(photo)["key"], params={"width": 5}, cache=False
        )
    refused = app.http.delete(f"/v1/jobs/{queued['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "job_not_finished"
    assert app.http.delete(f"/v1/jobs/{done['id']}").status_code == 204
    assert app.http.get(f"/v1/jobs/{done['id']}").status_code == 404
    assert files_of(app, done) == []
    assert app.http.delete(f"/v1/jobs/{done['id']}").status_code == 404
    # Another tenant's job is not there to delete.
    with app.tenant() as other:
        assert other._http.delete(f"/v1/jobs/{queued['id']}").status_code == 404
    counts = counted(app)
    assert counts[("jobs_deleted_total", (("reason", "request"),))] == 1


def test_an_expired_upload_goes_once_no_kept_job_names_it(
    app: InProcessApi, tmp_path: Path
) -> None:
    unused_photo = images.photo(tmp_path / "a.png", 10, 10)
    used_photo = images.photo(tmp_path / "b.png", 12, 10)
    with app.client() as client:
        unused = client.upload(unused_photo)
        used = client.upload(used_photo)
        job = client.submit("resize", key=used["key"], params={"width": 5})  # left queued
    expiry = datetime.fromisoformat(unused["expires_at"]).timestamp()
    assert time.time() < expiry <= time.time() + 1
    objects = TenantObjects(app.services.objects, "default")
    time.sleep(1.1)
    assert sweeper(app, sweep_seconds=0.01).turn()
    assert not objects.exists(unused["key"])
    assert objects.exists(used["key"])  # a queued job names it
    app.work()
    assert app.http.delete(f"/v1/jobs/{job['id']}").status_code == 204
    time.sleep(0.05)
    assert sweeper(app, sweep_seconds=0.01).turn()
    assert not objects.exists(used["key"])
    counts = counted(app)
    assert counts[("files_deleted_total", (("reason", "upload_expired"),))] == 2
    with app.client() as client:  # sent again: stored again, with a new expiry
        again = client.upload(unused_photo)
    assert objects.exists(again["key"])
    assert datetime.fromisoformat(again["expires_at"]).timestamp() > expiry


def test_an_expired_file_goes_with_its_bytes(app: InProcessApi, tmp_path: Path) -> None:
    data = images.photo(tmp_path / "photo.jpg", 10, 10).read_bytes()
    created = app.http.post("/v1/files", files={"content": ("photo.jpg", data, "image/jpeg")})
    assert created.status_code == 201, created.text
    sha256 = created.json()["checksums"]["sha256"]
    objects = TenantObjects(app.services.objects, "default")
    assert objects.exists(f"files/{sha256}")
    time.sleep(1.1)
    assert sweeper(app).turn()
    assert not objects.exists(f"files/{sha256}")
    assert counted(app)[("files_deleted_total", (("reason", "file_expired"),))] == 1


def test_an_admin_purges_a_tenant_and_the_audit_log_says_so(
    app: InProcessApi, tmp_path: Path
) -> None:
    photo = images.photo(tmp_path / "photo.png", 12, 9)
    key = app.tenant_key()
    with app.client(key) as tenant:
        name = tenant.current_key()["tenant"]
        upload = tenant.upload(photo)
        ended = tenant.submit("resize", key=upload["key"], params={"width": 5})
        app.work()
        queued = tenant.submit("resize", key=upload["key"], params={"width": 6})
        refused = tenant._http.post(f"/v1/tenants/{name}/purge")
    assert refused.status_code == 403  # admin keys only
    purged = app.http.post(f"/v1/tenants/{name}/purge")
    assert purged.status_code == 200, purged.text
    assert purged.json()["jobs_canceled"] == 1 and purged.json()["jobs_deleted"] == 2
    with app.client(key) as tenant:
        for job in (ended, queued):
            assert tenant._http.get(f"/v1/jobs/{job['id']}").status_code == 404
    objects = TenantObjects(app.services.objects, name)
    assert objects.keys_under("uploads/") == [] and objects.keys_under("jobs/") == []
    done = run_job(app, photo, "resize", {"width": 4})  # the admin's own tenant is untouched
    assert app.http.delete(f"/v1/jobs/{done['id']}").status_code == 204
    entries = app.http.get("/v1/audit").json()["items"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("job.delete", done["id"]),
        ("tenant.purge", name),
    ]
    assert entries[1]["detail"] == purged.json() and entries[1]["tenant"] == name
