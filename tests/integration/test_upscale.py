"""``upscale`` through the real server: submit-time refusals, the CLI, and a kill -9 mid-job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import pyvips

from tests import images
from tests.integration.test_resilience import running_task, task_attempts
from tests.server import ServerProcess
from tilework.client import Client


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.natural_photo(tmp_path_factory.mktemp("img") / "photo.png", 100, 80)


def refusal(server: ServerProcess, key: str, **params: object) -> dict[str, Any]:
    body = {"operation": "upscale", "input": {"key": key}, "params": params}
    response = server.http.post(f"{server.url}/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "validation_failed"
    return error


def field_of(error: dict[str, Any]) -> str:
    return str(error["details"]["errors"][0]["field"])


def test_outputs_no_encoder_can_write_are_refused_at_submit(
    server: ServerProcess, client: Client, tmp_path: Path
) -> None:
    key = client.upload(images.photo(tmp_path / "wide.png", 600, 400))["key"]
    webp = refusal(server, key, scale=32, model="lanczos", format="webp")  # 19200 px wide
    assert field_of(webp) == "params.format"
    assert "use png or tiff" in str(webp["message"])
    assert field_of(refusal(server, key, scale=33)) == "params.scale"
    assert field_of(refusal(server, key, model="esrgan-9000")) == "params.model"
    accepted = client.submit("upscale", key=key, params={"scale": 32, "model": "lanczos"})
    client.cancel(accepted["id"])  # png has no such limit


def test_the_cli_upscales_a_file_and_reports_its_stages(
    server: ServerProcess, photo: Path, tmp_path: Path
) -> None:
    out = tmp_path / "big.png"
    done = subprocess.run(
        [sys.executable, "-m", "tilework", "upscale", str(photo), "--scale", "6", "-o", str(out)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    image = pyvips.Image.new_from_file(str(out))
    assert (image.width, image.height) == (600, 480)
    job = json.loads(done.stdout)
    assert job["progress"]["stages"] == ["prepare", "tiles: animevideov3 ×2 ×3", "stitch"]


def test_kill_9_of_a_worker_mid_tiles_gives_the_same_output(
    tmp_path: Path, database_url: str
) -> None:
    server = ServerProcess(
        tmp_path / "home", workers=1, lease_seconds=2, database_url=database_url
    ).start()
    params = {"scale": 4, "tile": 32, "overlap": 8}
    victim = server.worker().wait_started()
    try:
        with server.client() as client:
            key = client.upload(images.natural_photo(tmp_path / "p.png", 128, 96))["key"]
            undisturbed = client.wait(client.submit("upscale", key=key, params=params)["id"])
            job = client.submit("upscale", key=key, params=params)
            task_id, pid = running_task(
                database_url, job["id"], kind="tile", pid=victim.process.pid
            )
            os.kill(pid, signal.SIGKILL)
            done = client.wait(job["id"], timeout=120)
    finally:
        victim.stop()
        assert server.stop() == 0, server.log()
    assert undisturbed["status"] == done["status"] == "succeeded", server.log()
    assert task_attempts(database_url, task_id) == 2, "the kill did not interrupt a tile"
    assert done["outputs"][0]["sha256"] == undisturbed["outputs"][0]["sha256"]
