"""Retries and the result cache, in process on SQLite with local files and on PostgreSQL with
moto's S3 server: a retried upscale runs only its failed tiles (real Real-ESRGAN weights on a
tiny image) and ends with the bytes of an undisturbed run; a cache hit shares outputs that
outlive the original's deletion; an expired original is a miss."""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import images
from tests.support.api import BASE_URL, InProcessApi, MakeApi, error_of
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tests.support.s3 import S3Server
from tests.support.workers import InlineExecutor
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import ClaimedTask
from tilework.core.settings import Settings
from tilework.objects.tenants import TenantObjects
from tilework.retention.sweeper import Sweeper
from tilework.store.counters import totals
from tilework.worker.reply import Reply

# Four tiles of 32 source pixels: a 64×64 photo, twice its size.
UPSCALE = {"scale": 2, "model": "animevideov3", "tile": 32, "overlap": 4}


@pytest.fixture(params=["sqlite+local", "postgresql+s3"])
def app(request: pytest.FixtureRequest, make_api: MakeApi) -> InProcessApi:
    backend, storage = request.param.split("+")
    # One attempt a task: a tile made to fail fails its job at once.
    # URL inputs from a file server on loopback.
    overrides: dict[str, Any] = {
        "max_attempts": 1,
        "retention_seconds": 3600,
        "fetch_allow_hosts": LOOPBACK,
    }
    if storage == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        overrides |= s3.settings(s3.new_bucket())
    return make_api(backend, **overrides)


class TileFaults:
    """The in-process executor, but the tiles of index in ``doomed`` fail; every tile that
    runs, or fails, is counted by job."""

    def __init__(self, settings: Settings, doomed: set[int]) -> None:
        self.inner = InlineExecutor(settings)
        self.doomed = doomed
        self.tiles: list[tuple[str, int]] = []
        self._failures: deque[Reply | None] = deque()  # None: the inner executor answers

    @property
    def generation(self) -> int:
        return self.inner.generation

    def ensure_started(self) -> None:
        self.inner.ensure_started()

    def submit(self, claimed: ClaimedTask) -> None:
        if claimed.task.kind == "tile":
            index = int(claimed.task.payload["index"])
            self.tiles.append((claimed.task.job_id, index))
            if index in self.doomed:
                failed = TileworkError(ErrorCode.PIPELINE_ERROR, f"tile {index} failed on purpose")
                self._failures.append(Reply.failure(failed))
                return
        self._failures.append(None)
        self.inner.submit(claimed)

    def wait(self, timeout: float) -> Reply | None:
        if not self._failures:
            return None
        return self._failures.popleft() or self.inner.wait(timeout)

    def kill(self) -> None:
        self._failures.clear()
        self.inner.kill()

    def close(self) -> None:
        self.kill()


def submit(app: InProcessApi, key: str, operation: str, **body: Any) -> dict[str, Any]:
    """``key``: an upload's, or a URL."""
    source = {"url": key} if key.startswith("http") else {"key": key}
    body = {"operation": operation, "input": source, **body}
    answer = app.http.post("/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()
    return job


def job_of(app: InProcessApi, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = app.http.get(f"/v1/jobs/{job_id}").json()
    return found


def stored_sha256(app: InProcessApi, key: str) -> str:
    with TenantObjects(app.services.objects, "default").open(key) as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def folder(app: InProcessApi, job_id: str) -> list[str]:
    return TenantObjects(app.services.objects, "default").keys_under(f"jobs/{job_id}/")


def counter(app: InProcessApi, name: str) -> float:
    return sum(each.value for each in totals(app.services.database) if each.name == name)


def test_a_retried_upscale_runs_only_its_failed_tiles_and_ends_with_an_undisturbed_runs_bytes(
    app: InProcessApi, tmp_path: Path
) -> None:
    key = app.client().upload(images.photo(tmp_path / "photo.png", 64, 64))["key"]
    first = submit(app, key, "upscale", params=UPSCALE)
    faults = TileFaults(app.settings, doomed={3})
    app.work(faults)
    failed = job_of(app, first["id"])
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "pipeline_error"
    assert sorted(index for _, index in faults.tiles) == [0, 1, 2, 3]
    tiles = [task for task in app.services.queue.job_tasks(first["id"]) if task.kind == "tile"]
    succeeded = sorted(task.index for task in tiles if task.status == "succeeded")
    assert succeeded == [0, 1, 2]  # reported before the failure that ended the job

    answer = app.http.post(f"/v1/jobs/{first['id']}/retry")
    assert answer.status_code == 201, answer.text
    retry = answer.json()
    assert retry["retry_of"] == first["id"] and retry["status"] == "queued"
    assert answer.headers["Location"] == f"/v1/jobs/{retry['id']}"
    old = job_of(app, first["id"])  # final as it was, and says who retries it
    assert (old["status"], old["retried_by"]) == ("failed", retry["id"])
    again = app.http.post(f"/v1/jobs/{first['id']}/retry")
    assert (again.status_code, again.json()["id"]) == (200, retry["id"])

    faults = TileFaults(app.settings, doomed=set())
    app.work(faults)
    done = job_of(app, retry["id"])
    assert done["status"] == "succeeded", done
    # Only the failed tile ran again; the others' files were the first job's.
    assert faults.tiles == [(retry["id"], 3)]
    assert any(name.endswith("tiles/out/3.png") for name in folder(app, retry["id"]))

    undisturbed = submit(app, key, "upscale", params=UPSCALE, cache=False)
    app.work()
    fresh = job_of(app, undisturbed["id"])
    assert fresh["status"] == "succeeded" and fresh["cached_from"] is None
    (made,), (expected,) = done["outputs"], fresh["outputs"]
    assert stored_sha256(app, made["key"]) == stored_sha256(app, expected["key"])
    assert made["sha256"] == expected["sha256"]

    # Once the retry's intermediates are swept and the first job is deleted, the retry's
    # output stays and the first job's files all go: nothing uses them any more.
    assert Sweeper(app.settings, app.services.database, app.services.objects).turn()
    assert app.http.delete(f"/v1/jobs/{first['id']}").status_code == 204
    assert folder(app, first["id"]) == []
    assert folder(app, retry["id"]) == [made["key"]]
    assert stored_sha256(app, made["key"]) == made["sha256"]


def test_only_a_failed_or_canceled_job_is_retried(app: InProcessApi, tmp_path: Path) -> None:
    key = app.client().upload(images.photo(tmp_path / "photo.png", 8, 8))["key"]
    queued = submit(app, key, "resize", params={"width": 4})
    refused = app.http.post(f"/v1/jobs/{queued['id']}/retry")
    assert error_of(refused) == (409, "job_not_retryable")
    app.work()
    refused = app.http.post(f"/v1/jobs/{queued['id']}/retry")
    assert error_of(refused) == (409, "job_not_retryable")
    assert error_of(app.http.post("/v1/jobs/01nosuchjob0000000000000000/retry")) == (
        404,
        "not_found",
    )
    # Another tenant's job is not there for this one.
    canceled = submit(app, key, "resize", params={"width": 5})
    assert app.http.post(f"/v1/jobs/{canceled['id']}/cancel").status_code == 200
    with app.tenant() as other:
        answer = other._http.post(f"/v1/jobs/{canceled['id']}/retry")
    assert error_of(answer) == (404, "not_found")
    # A job canceled before it ran starts over from its first stage.
    retry = app.http.post(f"/v1/jobs/{canceled['id']}/retry").json()
    app.work()
    done = job_of(app, retry["id"])
    assert (done["status"], done["outputs"][0]["width"]) == ("succeeded", 5)


def test_a_cache_hit_shares_outputs_that_outlive_the_deleted_original(
    app: InProcessApi, tmp_path: Path
) -> None:
    key = app.client().upload(images.photo(tmp_path / "photo.png", 64, 64))["key"]
    original = submit(app, key, "upscale", params=UPSCALE)
    app.work()
    made = job_of(app, original["id"])
    assert made["status"] == "succeeded" and made["cached_from"] is None

    hit = submit(app, key, "upscale", params=UPSCALE)
    # Answered at once: nothing ran, nothing was queued.
    assert (hit["status"], hit["cached_from"]) == ("succeeded", original["id"])
    assert [out["key"] for out in hit["outputs"]] == [out["key"] for out in made["outputs"]]
    assert app.services.queue.job_tasks(hit["id"]) == []
    assert counter(app, "cache_hits_total") == 1
    stream = app.http.get(f"/v1/jobs/{hit['id']}/events").text  # ends with the job's end
    (ended,) = [json.loads(line[5:]) for line in stream.splitlines() if line.startswith("data:")]
    assert (ended["type"], ended["data"]["cached_from"]) == ("job.succeeded", original["id"])
    # Other params, or a job that says no, are not answered from it.
    other = submit(app, key, "upscale", params={**UPSCALE, "scale": 3})
    unwanted = submit(app, key, "upscale", params=UPSCALE, cache=False)
    assert other["status"] == unwanted["status"] == "queued"
    app.work()

    assert app.http.delete(f"/v1/jobs/{original['id']}").status_code == 204
    assert app.http.get(f"/v1/jobs/{original['id']}").status_code == 404
    (output,) = job_of(app, hit["id"])["outputs"]
    assert stored_sha256(app, output["key"]) == output["sha256"]
    # Its URL (signed here, or presigned on S3) serves the bytes.
    local = output["url"].startswith(BASE_URL)
    fetched = app.http.get(output["url"]) if local else httpx.get(output["url"])
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == output["sha256"]
    # Its last user gone, the original's output goes too.
    assert app.http.delete(f"/v1/jobs/{hit['id']}").status_code == 204
    assert folder(app, original["id"]) == []


def test_a_cache_hit_after_the_original_expired_is_a_miss(
    app: InProcessApi, tmp_path: Path
) -> None:
    key = app.client().upload(images.photo(tmp_path / "photo.png", 16, 16))["key"]
    original = submit(app, key, "resize", params={"width": 8})
    app.work()
    assert job_of(app, original["id"])["status"] == "succeeded"
    time.sleep(0.05)
    expiring = app.settings.model_copy(update={"retention_seconds": 0.01, "upload_seconds": 3600})
    assert Sweeper(expiring, app.services.database, app.services.objects).turn()
    assert app.http.get(f"/v1/jobs/{original['id']}").status_code == 404
    missed = submit(app, key, "resize", params={"width": 8})
    assert missed["status"] == "queued" and missed["cached_from"] is None
    app.work()
    assert job_of(app, missed["id"])["status"] == "succeeded"


def test_a_url_input_is_fetched_once_and_its_bytes_make_the_cache_key(
    app: InProcessApi, tmp_path: Path
) -> None:
    (tmp_path / "served").mkdir()
    photo = images.photo(tmp_path / "served" / "photo.png", 16, 16)
    with serving(photo.parent) as base:
        url = f"{base}/photo.png"
        first = submit(app, url, "resize", params={"width": 8})
        assert first["progress"]["stages"][0] == "fetch input"
        app.work()
        made = job_of(app, first["id"])
        assert made["status"] == "succeeded", made
        sha256 = hashlib.sha256(photo.read_bytes()).hexdigest()
        assert (made["input"]["url"], made["input"]["sha256"]) == (url, sha256)

        # The same URL: fetched (its bytes may have changed), then answered from the cache.
        again = submit(app, url, "resize", params={"width": 8})
        assert again["status"] == "queued"
        app.work()
        hit = job_of(app, again["id"])
        assert (hit["status"], hit["cached_from"]) == ("succeeded", first["id"])
        assert [task.kind for task in app.services.queue.job_tasks(again["id"])] == ["fetch_input"]
        assert hit["outputs"][0]["key"] == made["outputs"][0]["key"]

        # The same bytes uploaded: answered at once.
        key = app.client().upload(photo)["key"]
        uploaded = submit(app, key, "resize", params={"width": 8})
        assert (uploaded["status"], uploaded["cached_from"]) == ("succeeded", first["id"])

        # Other bytes behind the same URL: a miss.
        images.photo(photo, 20, 16)
        changed = submit(app, url, "resize", params={"width": 8})
        app.work()
        fresh = job_of(app, changed["id"])
        assert (fresh["status"], fresh["cached_from"]) == ("succeeded", None)
        assert fresh["input"]["sha256"] != sha256
    assert counter(app, "cache_hits_total") == 2


def test_credits_pay_for_the_run_that_succeeds_once_and_never_for_a_cache_hit(
    app: InProcessApi, tmp_path: Path
) -> None:
    photo = images.photo(tmp_path / "photo.png", 16, 16)
    with app.tenant(credits=10) as client, serving(tmp_path) as base:
        key = client.upload(photo)["key"]
        canceled = client.submit("resize", key=key, params={"width": 8})
        client.cancel(canceled["id"])
        assert client.current_key()["credits"] == 10  # released: it made nothing
        retry = client.retry(canceled["id"])
        assert client.current_key()["credits"] == 9  # the price reserved again, once
        app.work()
        assert client.job(retry["id"])["status"] == "succeeded"
        hit = client.submit("resize", key=key, params={"width": 8})
        assert hit["cached_from"] == retry["id"]
        assert client.current_key()["credits"] == 9
        # A URL's hit is known only once fetched: reserved at submit, all released.
        fetched = client.submit("resize", url=f"{base}/photo.png", params={"width": 8})
        app.work()
        assert client.job(fetched["id"])["cached_from"] == retry["id"]
        assert client.current_key()["credits"] == 9
        charged = [row for row in client.ledger()["items"] if row["kind"] == "charge"]
    amounts = {row["job_id"]: row["amount"] for row in charged}
    assert amounts == {retry["id"]: -1.0, fetched["id"]: 0.0}
