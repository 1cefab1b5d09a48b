"""Seed 004's render contract, verbatim, over the real server and real URLs on 127.0.0.1."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import pyvips

from tests import images
from tests.fileserver import serving
from tests.server import ServerProcess

POLL_SECONDS = 60


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A photo, a striped texture and a mask of the photo's left half."""
    folder = tmp_path_factory.mktemp("assets")
    images.photo(folder / "photo.jpg", 160, 120)
    row = np.where(np.arange(16) < 8, 30, 230).astype(np.uint8)
    stripes = np.repeat(np.tile(row, (16, 1))[:, :, None], 3, axis=2)
    pyvips.Image.new_from_array(stripes, interpretation="srgb").pngsave(str(folder / "texture.png"))
    mask = np.zeros((60, 80), np.uint8)
    mask[:, :40] = 255
    pyvips.Image.new_from_array(mask).pngsave(str(folder / "mask.png"))
    return folder


@pytest.fixture
def base(assets: Path) -> Iterator[str]:
    with serving(assets) as url:
        yield url


def request(base: str, **extra: Any) -> dict[str, Any]:
    return {"image_url": f"{base}/photo.jpg", "texture_url": f"{base}/texture.png", **extra}


def submit(server: ServerProcess, body: Any) -> httpx.Response:
    return server.http.post(f"{server.url}/render/jobs", json=body, timeout=30)


def poll(server: ServerProcess, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        answer = server.http.get(f"{server.url}/render/jobs/{job_id}", timeout=30)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        if body["status"] != "processing":
            return body
        assert body == {"job_id": job_id, "status": "processing"}
        time.sleep(0.1)
    raise AssertionError(f"render {job_id} still processing")


def sha256_of(url: str) -> str:
    answer = httpx.get(url, timeout=30)
    answer.raise_for_status()
    return hashlib.sha256(answer.content).hexdigest()


def test_a_project_render_round_trip(
    server: ServerProcess, base: str, assets: Path, tmp_path: Path
) -> None:
    body = request(
        base,
        mask_url=f"{base}/mask.png",
        project_id="3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        user_id="u-42",
        options={"real_world_scale": 4},
    )
    answer = submit(server, body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    job_id = created["job_id"]
    assert created == {
        "job_id": job_id,
        "status": "processing",
        "poll_url": f"/render/jobs/{job_id}",
    }

    done = poll(server, job_id)
    assert set(done) == {"job_id", "status", "result_url"}, done
    assert done["status"] == "completed"
    result = tmp_path / "result.png"
    result.write_bytes(httpx.get(done["result_url"], timeout=30).content)
    out = np.asarray(pyvips.Image.new_from_file(str(result)).numpy())
    photo = np.asarray(pyvips.Image.new_from_file(str(assets / "photo.jpg")).numpy())
    assert out.shape == photo.shape == (120, 160, 3)
    assert (out[:, 80:] == photo[:, 80:]).all()  # the mask's right half: untouched
    assert np.abs(out[:, :80].astype(int) - photo[:, :80]).mean() > 20  # the left: textured

    # The same job under /v1: operation render, its stages, and seed 004's storage path.
    job = server.http.get(f"{server.url}/v1/jobs/{job_id}").json()
    assert job["operation"] == "render"
    assert job["progress"]["stages"] == ["fetch", "region", "project", "store"]
    key = f"renders/u-42/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b-{job_id}.png"
    assert job["outputs"][0]["key"] == key


def test_the_same_inputs_give_the_same_bytes_and_the_seed_decides_the_grain(
    server: ServerProcess, base: str
) -> None:
    def render(**options: Any) -> str:
        answer = submit(server, request(base, options=options))
        assert answer.status_code == 201, answer.text
        done = poll(server, answer.json()["job_id"])
        assert done["status"] == "completed", done
        return sha256_of(done["result_url"])

    plain = [render(), render()]
    refined = [render(enable_refinement=True), render(enable_refinement=True)]
    reseeded = render(enable_refinement=True, refinement_seed=7)
    assert plain[0] == plain[1]
    assert refined[0] == refined[1]
    assert len({plain[0], refined[0], reseeded}) == 3


def test_bad_requests_are_400_with_the_field_and_queue_nothing(
    server: ServerProcess, base: str
) -> None:
    cases = [
        ({"image_url": f"{base}/photo.jpg"}, "texture_url"),
        (request(base, image_url="ftp://example.com/a.png"), "image_url"),
        (request(base, project_id="p1"), "user_id"),
        (request(base, project_id="../etc", user_id="u"), "project_id"),
        (request(base, options={"real_world_scale": 0}), "options.real_world_scale"),
        (request(base, options={"colour": "red"}), "options.colour"),
    ]
    for body, field in cases:
        answer = submit(server, body)
        assert answer.status_code == 400, (field, answer.text)
        error = answer.json()
        assert error["error"] == "validation_failed" and field in error["details"], (field, error)
    garbage = server.http.post(f"{server.url}/render/jobs", content=b"{not json", timeout=30)
    assert garbage.status_code == 400 and garbage.json()["error"] == "validation_failed"
    assert server.http.get(f"{server.url}/v1/jobs").json()["items"] == []


def test_unknown_ids_are_job_not_found(server: ServerProcess, base: str) -> None:
    missing = server.http.get(f"{server.url}/render/jobs/01nosuchjob", timeout=30)
    assert missing.status_code == 404 and missing.json() == {"error": "job_not_found"}
    other = server.http.post(
        f"{server.url}/v1/jobs",
        json={"operation": "resize", "input": {"url": f"{base}/photo.jpg"}, "params": {"width": 8}},
    ).json()
    answer = server.http.get(f"{server.url}/render/jobs/{other['id']}", timeout=30)
    assert answer.status_code == 404 and answer.json() == {"error": "job_not_found"}


def test_failures_carry_the_seeds_codes(server: ServerProcess, base: str) -> None:
    missing_texture = submit(server, request(base, texture_url=f"{base}/missing.png")).json()
    slow = submit(server, request(base, options={"stage_timeout_seconds": 0.001})).json()
    failed = poll(server, missing_texture["job_id"])
    assert failed["status"] == "failed" and failed["error_code"] == "download_failed", failed
    assert failed["error_message"].startswith("texture_url:")
    timed_out = poll(server, slow["job_id"])
    assert timed_out["status"] == "failed" and timed_out["error_code"] == "timeout", timed_out
    assert "fetch stage" in timed_out["error_message"]
    job = server.http.get(f"{server.url}/v1/jobs/{slow['job_id']}").json()
    assert job["attempts"] == 1  # the caller's deadline is not spent twice


def test_a_full_queue_is_503(tmp_path: Path, base: str) -> None:
    server = ServerProcess(tmp_path / "home", workers=0, max_queued=1).start()
    try:
        assert submit(server, request(base)).status_code == 201
        answer = submit(server, request(base))
        assert answer.status_code == 503
        assert answer.json() == {"error": "queue_full"}
        assert answer.headers["Retry-After"]
    finally:
        assert server.stop() == 0
