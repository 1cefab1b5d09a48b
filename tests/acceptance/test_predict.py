"""``predict``: a hosted model as a durable job. The provider is a second tilework server,
reached as Replicate's API (``rep``) and as fal's queue (``fal``); its models are tilework's
operations (``tilework/resize``, and the tests' ``tilework/test_sleep``)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.hosted import IMAGE_FIELDS, inline, provider_entries, with_remote_request
from tests.support.httpproxy import HttpProxy
from tests.support.rows import query
from tests.support.server import ServerProcess, tilework_env
from tests.support.tcpproxy import TcpProxy


@pytest.fixture(scope="module")
def flaky(provider: ServerProcess) -> Iterator[HttpProxy]:
    """The provider behind a proxy that a test can make answer errors of its own."""
    proxy = HttpProxy(provider.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def doubting(
    provider: ServerProcess, flaky: HttpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server that cannot check the provider's callbacks (Replicate: a secret that is not
    the provider's; fal: a key document that is its own), so it polls every second; whose
    ``*-nobody`` providers send a token the provider does not know, and whose ``*-flaky``
    ones reach it through ``flaky``. Its deadlines are kept every second (``worker.deadlines``)."""
    server = ServerProcess(
        tmp_path_factory.mktemp("doubting") / "home",
        workers=1,
        provider_poll_seconds=1,
        lease_seconds=2,
        retry_base_seconds=0.1,
    )
    configured = json.loads(provider_entries(provider))
    configured["rep"]["webhook_secret"] = "whsec_" + "A" * 32
    configured["fal"]["jwks_url"] = f"{server.url}/.well-known/jwks.json"
    for kind in ("rep", "fal"):
        configured[f"{kind}-nobody"] = {
            **json.loads(provider_entries(provider))[kind],
            "token": "tw_nobody",
        }
        configured[f"{kind}-flaky"] = {
            **configured[kind],
            "base_url": configured[kind]["base_url"].replace(provider.url, flaky.endpoint),
        }
    server.env["TILEWORK_PROVIDERS"] = json.dumps(configured)
    server.start()
    yield server
    assert server.stop() == 0, server.log()


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 64, 48)


def predict(
    server: ServerProcess, photo: Path | None, provider: str, model: str, **params: Any
) -> dict[str, Any]:
    """Submit a predict job (the photo as its input, if any) and wait for its end."""
    with server.client() as client:
        body: dict[str, Any] = {
            "operation": "predict",
            "params": {"provider": provider, "model": model, **params},
        }
        if photo is not None:
            body["input"] = {"key": client.upload(photo)["key"]}
            body["params"]["image_field"] = IMAGE_FIELDS[provider.split("-")[0]]
        created = server.http.post("/v1/jobs", json=body)
        assert created.status_code == 201, created.text
        return client.wait(created.json()["id"])


def provider_job(provider: ServerProcess, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = provider.http.get(f"/v1/jobs/{job_id}").json()
    return found


@pytest.mark.parametrize("kind", ["rep", "fal"])
def test_a_model_runs_on_the_provider_and_its_files_are_kept_here(
    provider: ServerProcess, consumer: ServerProcess, photo: Path, kind: str
) -> None:
    started = time.monotonic()
    job = predict(consumer, photo, kind, "tilework/resize", input={"width": 20})
    elapsed = time.monotonic() - started
    assert job["status"] == "succeeded", job["error"]
    assert elapsed < 60  # woken by the signed callback: the 2-minute poll never came into it
    # The request, as the provider knows it.
    remote = job["remote"]
    assert (remote["provider"], remote["model"]) == (kind, "tilework/resize")
    there = provider_job(provider, remote["request_id"])
    assert there["status"] == "succeeded" and there["params"]["width"] == 20
    # The file, copied here: described from its bytes, served by this server.
    (output,) = job["outputs"]
    assert (output["width"], output["height"], output["content_type"]) == (20, 15, "image/jpeg")
    assert output["url"].startswith(consumer.url)
    assert output["sha256"] == there["outputs"][0]["sha256"]
    # The model's own JSON, its file now this job's output.
    if kind == "rep":
        assert job["result"] in (output["url"], [output["url"]])
    else:
        assert job["result"]["images"][0]["url"] == output["url"]
        assert job["result"]["images"][0]["width"] == 20
    # The provider deletes its copy (as Replicate does after an hour): ours is unaffected.
    for stored in (provider.home / "objects").rglob("*"):
        if stored.is_file() and remote["request_id"] in str(stored):
            stored.unlink()
    assert httpx.get(there["outputs"][0]["url"]).status_code == 404
    kept = httpx.get(output["url"])
    assert kept.status_code == 200 and len(kept.content) == output["bytes"]


def test_a_job_without_an_input_and_a_file_the_decoder_refuses_to_read(
    consumer: ServerProcess, photo: Path
) -> None:
    """No input image of the job's own (the model's input carries one), and a model that makes
    a text file: stored as bytes, never decoded."""
    job = predict(
        consumer, None, "rep", "tilework/test_sleep", input={"seconds": 0, "image": inline(photo)}
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["input"] == {}
    (output,) = job["outputs"]
    assert output["content_type"] == "application/octet-stream" and output["width"] is None
    assert httpx.get(output["url"]).content == b"slept 0.0"


@pytest.mark.parametrize("kind", ["rep", "fal"])
def test_the_providers_refusals_and_failures_are_the_jobs(
    consumer: ServerProcess, photo: Path, kind: str
) -> None:
    invalid = predict(consumer, photo, kind, "tilework/resize", input={"width": -3})
    assert invalid["status"] == "failed" and invalid["attempts"] == 1
    assert invalid["error"]["code"] == "validation_failed"
    assert "width" in invalid["error"]["message"]
    unknown = predict(consumer, photo, kind, "tilework/nothing", input={})
    assert unknown["error"]["code"] in ("provider_misconfigured", "validation_failed")
    # The model runs and fails there (its input URL answers nothing): provider_failed.
    failed = predict(
        consumer,
        None,
        kind,
        "tilework/resize",
        input={IMAGE_FIELDS[kind]: "http://127.0.0.1:9/gone.png", "width": 5},
    )
    assert failed["status"] == "failed" and failed["error"]["code"] == "provider_failed"
    assert "download_failed" in failed["error"]["message"] or "9" in failed["error"]["message"]


def test_past_its_timeout_the_remote_request_is_canceled(
    provider: ServerProcess, consumer: ServerProcess, photo: Path
) -> None:
    job = predict(
        consumer,
        None,
        "rep",
        "tilework/test_sleep",
        input={"seconds": 30, "image": inline(photo)},
        timeout_seconds=2,
    )
    assert job["status"] == "failed" and job["error"]["code"] == "timeout", job["error"]
    there = provider_job(provider, job["remote"]["request_id"])
    assert there["status"] == "canceled"


@pytest.mark.parametrize("kind", ["rep", "fal"])
def test_a_forged_callback_wakes_nothing_and_polling_finds_the_end(
    doubting: ServerProcess, photo: Path, kind: str
) -> None:
    job = predict(doubting, photo, kind, "tilework/resize", input={"width": 6})
    assert job["status"] == "succeeded", job["error"]
    # The provider's own callbacks were refused: the task found the end by asking. A forged
    # one to the same task is refused as well.
    (task_id,) = set(re.findall(rf"job_id='{job['id']}' task_id=(\d+)", doubting.log()))
    forged = httpx.post(
        f"{doubting.url}/v1/providers/{kind}/callbacks/{task_id}",
        content=json.dumps({"id": job["remote"]["request_id"]}),
        headers={"content-type": "application/json"},
    )
    assert forged.status_code == 401


def test_a_token_the_provider_does_not_know_is_the_operators_to_mend(
    doubting: ServerProcess, photo: Path
) -> None:
    for name in ("rep-nobody", "fal-nobody"):
        refused = predict(doubting, photo, name, "tilework/resize", input={"width": 5})
        assert refused["error"]["code"] == "provider_misconfigured", (name, refused["error"])
        assert refused["attempts"] == 1 and "HTTP 401" in refused["error"]["message"]


@pytest.mark.parametrize("kind", ["rep", "fal"])
def test_a_providers_500_on_submit_is_retried_and_the_model_runs_once(
    provider: ServerProcess, doubting: ServerProcess, flaky: HttpProxy, photo: Path, kind: str
) -> None:
    made_before = len(provider_resizes(provider))
    flaky.failure = (500, json.dumps({"detail": "injected"}).encode())
    flaky.failing["POST"] = 1  # the create, before it reaches the provider
    job = predict(doubting, photo, f"{kind}-flaky", "tilework/resize", input={"width": 5})
    assert job["status"] == "succeeded", job["error"]
    assert job["attempts"] == 2  # the 500 spent one; the next submitted
    made = provider_resizes(provider)
    assert len(made) == made_before + 1 and job["remote"]["request_id"] == made[0]["id"]


def test_the_cli_runs_a_model_and_downloads_what_it_made(
    consumer: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "tilework",
            "predict",
            "fal",
            "tilework/resize",
            str(photo),
            "--image-field",
            "image_url",
            "-i",
            "width=12",
            "-o",
            f"{tmp_path}/made/",
        ],
        env=tilework_env(consumer.home, url=consumer.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    job = json.loads(ran.stdout)
    assert job["operation"] == "predict" and job["remote"]["provider"] == "fal"
    (made,) = (tmp_path / "made").iterdir()
    assert made.name == "photo.predict.jpg"
    assert hashlib.sha256(made.read_bytes()).hexdigest() == job["outputs"][0]["sha256"]


def test_canceling_the_job_cancels_the_remote_request(
    provider: ServerProcess, consumer: ServerProcess, photo: Path
) -> None:
    for kind in ("rep", "fal"):
        body = {
            "operation": "predict",
            "params": {
                "provider": kind,
                "model": "tilework/test_sleep",
                "input": {"seconds": 30, IMAGE_FIELDS[kind]: inline(photo)},
            },
        }
        job_id = consumer.http.post("/v1/jobs", json=body).json()["id"]
        job = with_remote_request(consumer, job_id)
        canceled = consumer.http.post(f"/v1/jobs/{job_id}/cancel").json()
        assert canceled["status"] == "canceled"
        there = provider_job(provider, job["remote"]["request_id"])
        assert there["status"] == "canceled", (kind, there["status"])


def test_a_deadline_that_passes_cancels_the_remote_request(
    provider: ServerProcess, doubting: ServerProcess, photo: Path
) -> None:
    """Cancel-After on tilework/predict: the worker's sweep cancels the job, and with it the
    request the provider still runs."""
    created = doubting.http.post(
        "/v1/models/tilework/predict/predictions",
        json={
            "input": {
                "provider": "rep",
                "model": "tilework/test_sleep",
                "input": {"seconds": 30, "image": inline(photo)},
            }
        },
        headers={"Cancel-After": "3s"},
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    job = with_remote_request(doubting, job_id)
    deadline = time.monotonic() + 30
    while (there := provider_job(provider, job["remote"]["request_id"]))["status"] != "canceled":
        assert time.monotonic() < deadline, there["status"]
        time.sleep(0.2)
    ended = doubting.http.get(f"/v1/jobs/{job_id}").json()
    assert ended["status"] == "canceled" and "Cancel-After" in ended["error"]["message"]


def test_predict_through_replicates_and_fals_routes(consumer: ServerProcess, photo: Path) -> None:
    """Every door: a Replicate prediction of tilework/predict (the provider and model in its
    input) runs a model on the fal provider; a fal request of tilework/predict one on the
    Replicate provider. Each answers the model's own JSON, its files now this server's."""
    created = consumer.http.post(
        "/v1/models/tilework/predict/predictions",
        json={
            "input": {
                "provider": "fal",
                "model": "tilework/resize",
                "input": {"width": 7},
                "image": inline(photo),
                "image_field": "image_url",
            }
        },
        headers={"Prefer": "wait=60"},
    )
    prediction = created.json()
    assert prediction.get("status") == "succeeded", prediction
    (image,) = prediction["output"]["images"]  # fal's result shape, as the model gave it
    assert image["width"] == 7 and image["url"].startswith(consumer.url)
    submitted = consumer.http.post(
        "/fal/tilework/predict",
        json={
            "provider": "rep",
            "model": "tilework/resize",
            "input": {"width": 9},
            "image_url": inline(photo),
            "image_field": "image",
        },
    ).json()
    with consumer.client() as client:
        client.wait(submitted["request_id"])
    result = consumer.http.get(submitted["response_url"]).json()
    urls = result["output"] if isinstance(result["output"], list) else [result["output"]]
    fetched = httpx.get(urls[0])
    assert fetched.status_code == 200 and fetched.content.startswith(b"\xff\xd8")


def test_a_key_with_credits_is_charged_what_the_model_used(
    consumer: ServerProcess, photo: Path
) -> None:
    """The consumer's noop (CONSUMER_PRICES): Replicate's priced per request and per second of its
    measured run, fal's per billable unit (which needs a bound). Reserved at submit, charged
    what was used, released when the request fails; the ledger says provider, model, units."""
    with consumer.client() as admin:
        key = admin.create_key("payer", "test", credits=1000)["key"]
    payer_http = {"Authorization": f"Bearer {key}"}

    def run(provider_name: str, **params: Any) -> httpx.Response:
        body = {
            "operation": "predict",
            "params": {"provider": provider_name, "model": "tilework/noop", **params},
        }
        return consumer.http.post("/v1/jobs", json=body, headers=payer_http)

    image = {IMAGE_FIELDS["rep"]: inline(photo)}
    with consumer.client(key) as payer:
        unbounded = run("fal", input={"image_url": inline(photo)})
        assert unbounded.status_code == 422
        field = unbounded.json()["error"]["details"]["errors"][0]["field"]
        assert field == "params.max_units"
        fal_job = payer.wait(
            run("fal", input={"image_url": inline(photo)}, max_units=4).json()["id"]
        )
        rep_job = payer.wait(run("rep", input=image, timeout_seconds=30).json()["id"])
        failed = payer.wait(
            run("rep", input={**image, "tasks": 0}, timeout_seconds=30).json()["id"]
        )
        ledger = payer.ledger()
    assert fal_job["status"] == rep_job["status"] == "succeeded" and failed["status"] == "failed"
    rows = {(row["job_id"], row["kind"]): row for row in ledger["items"]}
    assert rows[(fal_job["id"], "reserve")]["amount"] == -12  # 3 a unit, at most 4 units
    fal_charge = rows[(fal_job["id"], "charge")]
    assert fal_charge["amount"] == -3  # one billable unit, as the provider's header said
    assert fal_charge["detail"]["provider"] == "fal"
    assert fal_charge["detail"]["model"] == "tilework/noop"
    assert fal_charge["detail"]["billable_units"] == 1
    assert rows[(rep_job["id"], "reserve")]["amount"] == -(2 + 10 * 30)
    rep_charge = rows[(rep_job["id"], "charge")]
    seconds = rep_charge["detail"]["predict_seconds"]
    assert 0 < seconds < 30 and rep_charge["amount"] == pytest.approx(-(2 + 10 * seconds))
    assert (failed["id"], "charge") not in rows
    assert rows[(failed["id"], "release")]["amount"] == 2 + 10 * 30
    assert ledger["credits"] == pytest.approx(1000 - 3 + rep_charge["amount"])


def test_a_host_killed_between_the_submit_and_its_record_adopts_the_request(
    provider: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    """The provider has made the prediction, its answer has not come back, and the host dies
    (kill -9). The next attempt finds the prediction by the callback URL that names the task
    and adopts it: the provider runs the model once, and the job ends with that request."""
    proxy = TcpProxy("127.0.0.1", provider.port).start()
    settings: dict[str, Any] = {
        "workers": 1,
        "lease_seconds": 2,
        "provider_poll_seconds": 1,
        # Callbacks go nowhere (polling finds the end); the callback URL stays the same
        # across the restart, as a deployment's public URL does.
        "public_url": "http://127.0.0.1:9",
        "providers": json.dumps(
            {"rep": {"base_url": f"http://127.0.0.1:{proxy.port}", "token": provider.api_key}}
        ),
    }
    made_before = len(provider_resizes(provider))
    proxy.answering.clear()
    host = ServerProcess(tmp_path / "home", **settings).start()
    try:
        body = {
            "operation": "predict",
            "params": {
                "provider": "rep",
                "model": "tilework/resize",
                "input": {"width": 5, "image": inline(photo)},
            },
        }
        job_id = host.http.post("/v1/jobs", json=body).json()["id"]
        deadline = time.monotonic() + 30
        while len(provider_resizes(provider)) == made_before:  # made there, not yet answered
            assert time.monotonic() < deadline
            time.sleep(0.05)
        host.stop(signal.SIGKILL)
    finally:
        proxy.answering.set()
    host = ServerProcess(tmp_path / "home", **settings).start()
    try:
        with host.client() as client:
            job = client.wait(job_id)
    finally:
        assert host.stop() == 0, host.log()
        proxy.cut()
    assert job["status"] == "succeeded", job["error"]
    made = provider_resizes(provider)
    assert len(made) == made_before + 1  # billed once
    assert job["remote"]["request_id"] == made[0]["id"]
    assert "remote_request_adopted" in host.log()
    # The callback URL names the task and the attempt that submitted: the first, killed.
    prediction = provider.http.get(f"/v1/predictions/{made[0]['id']}").json()
    assert re.fullmatch(r".*/v1/providers/rep/callbacks/\d+\?attempt=1", prediction["webhook"])


def provider_resizes(provider: ServerProcess) -> list[dict[str, Any]]:
    """The provider's resize jobs, newest first."""
    listed = provider.http.get("/v1/jobs", params={"operation": "resize", "limit": 200})
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def test_two_hosts_share_a_providers_limits_and_its_cooldown(
    provider: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    """Two hosts on one PostgreSQL database. ``tight``'s key may have one job open on the
    provider, so a second create is refused with 429 (Retry-After: 5): every host then waits
    the cooldown out before its next create. (Requests in flight and creates a minute, counted
    across hosts, are tests/store/test_gates.py's.)"""
    with provider.client() as admin:
        tight = admin.create_key("tight", "test", max_queued_jobs=1)["key"]
    configured = json.loads(provider_entries(provider))["rep"]
    providers = json.dumps({"tight": {**configured, "token": tight}})
    sleeper = {"image": inline(photo)}
    with fresh_database("postgresql", tmp_path / "db") as url:
        settings: dict[str, Any] = {
            "workers": 2,
            "database_url": url,
            "providers": providers,
            "provider_poll_seconds": 1,
        }
        first = ServerProcess(tmp_path / "first", **settings).start()
        second = ServerProcess(tmp_path / "second", **settings).start()
        # One database, one admin key: the first host made it.
        shutil.copyfile(first.home / "admin_key", second.home / "admin_key")
        try:
            host_jobs: list[tuple[ServerProcess, str]] = []

            def submit(host: ServerProcess, name: str, seconds: float) -> str:
                body = {
                    "operation": "predict",
                    "params": {
                        "provider": name,
                        "model": "tilework/test_sleep",
                        "input": {"seconds": seconds, **sleeper},
                    },
                }
                job_id: str = host.http.post("/v1/jobs", json=body).json()["id"]
                host_jobs.append((host, job_id))
                return job_id

            def remote_of(host: ServerProcess, job_id: str) -> str:
                return str(with_remote_request(host, job_id)["remote"]["request_id"])

            # Open on the provider long enough for the second host's create to meet it there,
            # however slowly that host claims its task.
            remote_of(first, submit(first, "tight", 8))
            refused = submit(second, "tight", 0)  # the provider answers 429: a cooldown
            deadline = time.monotonic() + 30
            while not (
                gate := query(
                    url,
                    "SELECT cooldown_until FROM provider_gates "
                    "WHERE name = 'tight' AND cooldown_until > 0",
                )
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            cooldown_until = gate[0].cooldown_until
            held = submit(first, "tight", 0)  # the other host: it waits the cooldown out
            # The long request has done its part: canceled, it frees the key's one place.
            opener, *waiting = host_jobs
            assert first.http.post(f"/v1/jobs/{opener[1]}/cancel").json()["status"] == "canceled"
            for host, job_id in waiting:
                with host.client() as client:
                    assert client.wait(job_id)["status"] == "succeeded", job_id
            as_tight = {"Authorization": f"Bearer {tight}"}  # the jobs are its tenant's
            made = {
                job_id: provider.http.get(
                    f"/v1/jobs/{remote_of(host, job_id)}", headers=as_tight
                ).json()
                for host, job_id in waiting
            }
        finally:
            assert first.stop() == 0, first.log()
            assert second.stop() == 0, second.log()
    for job_id in (refused, held):
        assert moment(made[job_id]["created_at"]) >= cooldown_until - 0.05, job_id


def moment(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
