"""Jobs of steps between real servers: the seeds' own flows (a model generates on a provider,
then a local ×4 upscale, then a WebP thumbnail; an edit model on fal, then palettes), through
``/v1/jobs``, Replicate's routes and the CLI; a cancel that reaches the provider; a kill -9
mid-chain that ends with the same outputs. The provider is a second tilework server."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.hosted import inline, with_remote_request
from tests.support.rows import running_task
from tests.support.server import ServerProcess, tilework_env

THUMBNAIL = {"operation": "resize", "params": {"width": 64, "format": "webp"}}


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 48, 36)


def run_steps(server: ServerProcess, body: dict[str, Any]) -> dict[str, Any]:
    created = server.http.post("/v1/jobs", json=body)
    assert created.status_code == 201, created.text
    with server.client() as client:
        return client.wait(created.json()["id"], timeout=120)


def test_generate_on_a_provider_then_upscale_here_then_a_thumbnail(
    consumer: ServerProcess, photo: Path
) -> None:
    """Seed 002's generate-then-store and seed 000's upscale, as one job: the model makes a
    32 px image on the provider, a ×4 Real-ESRGAN upscale here makes it 128 px, a resize makes
    the 64 px WebP thumbnail. Every step's outputs kept, to see the chain."""
    generate = {
        "operation": "predict",
        "params": {
            "provider": "rep",
            "model": "tilework/resize",
            "input": {"image": inline(photo), "width": 32, "format": "png"},
        },
    }
    upscale = {"operation": "upscale", "params": {"scale": 4}}
    job = run_steps(consumer, {"steps": [generate, upscale, THUMBNAIL], "keep_intermediate": True})
    assert job["status"] == "succeeded", job["error"]
    made, upscaled, thumbnail = job["outputs"]
    assert (made["width"], upscaled["width"], thumbnail["width"]) == (32, 128, 64)
    assert thumbnail["url"].startswith(consumer.url)
    assert httpx.get(thumbnail["url"]).content[8:12] == b"WEBP"
    assert job["remote"]["provider"] == "rep"  # the first step's request, on record
    assert job["result"] is None  # the last step is not a model: its files are the answer
    assert job["progress"]["stages"][0] == "1.predict"
    assert job["progress"]["stages"][-1] == "3.resize"


def test_an_edit_model_on_fal_then_palettes(consumer: ServerProcess, photo: Path) -> None:
    """Seed 001's edit, then seed 003's palette variations: the job's input goes to the fal
    model, the model's image to the palettes."""
    with consumer.client() as client:
        key = client.upload(photo)["key"]
    edit = {
        "operation": "predict",
        "params": {
            "provider": "fal",
            "model": "tilework/resize",
            "input": {"width": 24},
            "image_field": "image_url",
        },
    }
    palettes = {"operation": "palette", "params": {"palettes": [["#d33"], ["#36c", "#fff"]]}}
    job = run_steps(consumer, {"input": {"key": key}, "steps": [edit, palettes]})
    assert job["status"] == "succeeded", job["error"]
    assert [(out["name"], out["width"]) for out in job["outputs"]] == [
        ("palette-0", 24),
        ("palette-1", 24),
    ]


def test_replicates_routes_and_the_cli_run_steps(
    consumer: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    upscale = {"operation": "upscale", "params": {"scale": 2, "model": "lanczos"}}
    created = consumer.http.post(
        "/v1/models/tilework/steps/predictions",
        json={"input": {"image": inline(photo), "steps": [upscale, THUMBNAIL]}},
        headers={"Prefer": "wait=60"},
    )
    prediction = created.json()
    assert prediction["status"] == "succeeded", prediction
    assert httpx.get(prediction["output"]).content[8:12] == b"WEBP"
    refused = consumer.http.post(
        "/v1/models/tilework/steps/predictions",
        json={"input": {"image": inline(photo), "steps": [{**upscale, "params": {"scale": 1}}]}},
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "input.steps[0].params.scale"

    env = tilework_env(consumer.home, url=consumer.url)
    steps_file = tmp_path / "steps.json"
    steps_file.write_text(json.dumps([upscale, THUMBNAIL]))
    cli = [sys.executable, "-m", "tilework"]
    ran = subprocess.run(
        [*cli, "run", str(steps_file), str(photo), "--keep-intermediate", "-o", f"{tmp_path}/a/"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    job = json.loads(ran.stdout)
    assert [out["width"] for out in job["outputs"]] == [96, 64]
    assert sorted(path.suffix for path in (tmp_path / "a").iterdir()) == [".png", ".webp"]
    then = subprocess.run(
        [
            *cli,
            "submit",
            "upscale",
            str(photo),
            "-p",
            "scale=2",
            "-p",
            "model=lanczos",
            "--then",
            "resize width=64 format=webp",
            "-o",
            f"{tmp_path}/b/",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert then.returncode == 0, then.stderr
    (saved,) = (tmp_path / "b").iterdir()
    assert (
        hashlib.sha256(saved.read_bytes()).hexdigest()
        == json.loads(then.stdout)["outputs"][0]["sha256"]
    )


def test_canceling_a_job_of_steps_cancels_the_running_steps_request(
    provider: ServerProcess, consumer: ServerProcess, photo: Path
) -> None:
    sleeper = {
        "operation": "predict",
        "params": {
            "provider": "rep",
            "model": "tilework/test_sleep",
            "input": {"seconds": 30, "image": inline(photo)},
        },
    }
    created = consumer.http.post("/v1/jobs", json={"steps": [sleeper, THUMBNAIL]}).json()
    job = with_remote_request(consumer, created["id"])
    canceled = consumer.http.post(f"/v1/jobs/{job['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    there = provider.http.get(f"/v1/jobs/{job['remote']['request_id']}").json()
    assert there["status"] == "canceled"


def test_a_worker_killed_mid_chain_ends_with_the_same_outputs(tmp_path: Path) -> None:
    """Three resizes of a large photo; the worker is killed (kill -9) while the second runs.
    A new worker takes the task again, and the job ends with the bytes an undisturbed run
    made."""
    steps = [
        {"operation": "resize", "params": {"width": 1500, "format": "png"}},
        {"operation": "resize", "params": {"width": 1400, "format": "png"}},
        {"operation": "resize", "params": {"width": 200, "format": "webp"}},
    ]
    with fresh_database("sqlite", tmp_path / "db") as url:
        server = ServerProcess(tmp_path / "home", workers=0, lease_seconds=2, database_url=url)
        server.start()
        first = server.worker().wait_started()
        second = None
        try:
            with server.client() as client:
                key = client.upload(images.photo(tmp_path / "big.png", 1600, 1600))["key"]
                body = {"input": {"key": key}, "steps": steps}
                undisturbed = run_steps(server, body)
                # Run again, not answered from the undisturbed run's outputs.
                rerun = {**body, "cache": False}
                job_id = server.http.post("/v1/jobs", json=rerun).json()["id"]
                deadline = time.monotonic() + 60
                while server.http.get(f"/v1/jobs/{job_id}").json()["progress"]["stage"] != (
                    "2.resize"
                ):
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
                _, pid = running_task(url, job_id)
                os.kill(pid, signal.SIGKILL)
                second = server.worker()
                done = client.wait(job_id, timeout=120)
        finally:
            first.stop()
            assert second is None or second.stop() == 0, server.log()
            assert server.stop() == 0, server.log()
    assert undisturbed["status"] == done["status"] == "succeeded", server.log()
    assert "tasks_recovered" in server.log()
    assert done["outputs"][0]["sha256"] == undisturbed["outputs"][0]["sha256"]
    assert done["attempts"] == 2
