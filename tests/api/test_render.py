"""The render contract (``/render/jobs``) verbatim, in process, on real URLs served from
loopback (which the app is told to allow)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import pyvips

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tilework.worker.deadlines import Deadlines


@pytest.fixture(scope="session")
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


@pytest.fixture
def api(make_api: MakeApi) -> InProcessApi:
    return make_api(fetch_allow_hosts=LOOPBACK)  # the assets are served from loopback


def request(base: str, **extra: Any) -> dict[str, Any]:
    return {"image_url": f"{base}/photo.jpg", "texture_url": f"{base}/texture.png", **extra}


def submit(api: InProcessApi, body: Any) -> httpx.Response:
    return api.http.post("/render/jobs", json=body)


def finished(api: InProcessApi, job_id: str) -> dict[str, Any]:
    """The job's answer once the queue has run dry; while it ran, it was ``processing``."""
    answer = api.http.get(f"/render/jobs/{job_id}")
    assert answer.json() == {"job_id": job_id, "status": "processing"}
    api.work()
    answer = api.http.get(f"/render/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def sha256_of(api: InProcessApi, url: str) -> str:
    answer = api.http.get(url)
    answer.raise_for_status()
    return hashlib.sha256(answer.content).hexdigest()


def test_a_project_render_round_trip(
    api: InProcessApi, base: str, assets: Path, tmp_path: Path
) -> None:
    body = request(
        base,
        mask_url=f"{base}/mask.png",
        project_id="3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        user_id="u-42",
        options={"real_world_scale": 4},
    )
    answer = submit(api, body)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    job_id = created["job_id"]
    assert created == {
        "job_id": job_id,
        "status": "processing",
        "poll_url": f"/render/jobs/{job_id}",
    }

    done = finished(api, job_id)
    assert set(done) == {"job_id", "status", "result_url"}, done
    assert done["status"] == "completed"
    result = tmp_path / "result.png"
    result.write_bytes(api.http.get(done["result_url"]).content)
    out = np.asarray(pyvips.Image.new_from_file(str(result)).numpy())
    photo = np.asarray(pyvips.Image.new_from_file(str(assets / "photo.jpg")).numpy())
    assert out.shape == photo.shape == (120, 160, 3)
    assert (out[:, 80:] == photo[:, 80:]).all()  # the mask's right half: untouched
    assert np.abs(out[:, :80].astype(int) - photo[:, :80]).mean() > 20  # the left: textured

    # The same job under /v1: operation render, its stages, and the contract's storage path.
    job = api.http.get(f"/v1/jobs/{job_id}").json()
    assert job["operation"] == "render"
    assert job["progress"]["stages"] == ["fetch", "region", "project", "store"]
    key = f"renders/u-42/3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b-{job_id}.png"
    assert job["outputs"][0]["key"] == key


def test_the_same_inputs_give_the_same_bytes_and_the_seed_decides_the_grain(
    api: InProcessApi, base: str
) -> None:
    def render(**options: Any) -> str:
        answer = submit(api, request(base, options=options))
        assert answer.status_code == 201, answer.text
        done = finished(api, answer.json()["job_id"])
        assert done["status"] == "completed", done
        return sha256_of(api, done["result_url"])

    plain = [render(), render()]
    refined = [render(enable_refinement=True), render(enable_refinement=True)]
    reseeded = render(enable_refinement=True, refinement_seed=7)
    assert plain[0] == plain[1]
    assert refined[0] == refined[1]
    assert len({plain[0], refined[0], reseeded}) == 3


def test_bad_requests_are_400_with_the_field_and_queue_nothing(
    api: InProcessApi, base: str
) -> None:
    cases = [
        ({"image_url": f"{base}/photo.jpg"}, "texture_url"),
        (request(base, image_url="ftp://example.com/a.png"), "image_url"),
        (request(base, project_id="p1"), "user_id"),
        (request(base, project_id="../etc", user_id="u"), "project_id"),
        (request(base, options={"real_world_scale": 0}), "options.real_world_scale"),
        (request(base, options={"colour": "red"}), "options.colour"),
        (request(base, timeout_seconds=0), "timeout_seconds"),
        (request(base, timeout_seconds="soon"), "timeout_seconds"),
    ]
    for body, field in cases:
        answer = submit(api, body)
        assert answer.status_code == 400, (field, answer.text)
        error = answer.json()
        assert error["error"] == "validation_failed" and field in error["details"], (field, error)
    garbage = api.http.post("/render/jobs", content=b"{not json")
    assert garbage.status_code == 400 and garbage.json()["error"] == "validation_failed"
    assert api.http.get("/v1/jobs").json()["items"] == []


def test_a_render_past_its_timeout_fails_with_timeout(api: InProcessApi, base: str) -> None:
    """The contract's poll timeout is the job's deadline, kept by the server's deadlines duty:
    the poller and the server agree on how it ended."""
    answer = submit(api, request(base, timeout_seconds=0.5))
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["job_id"]
    job = api.http.get(f"/v1/jobs/{job_id}").json()
    submitted = datetime.fromisoformat(job["created_at"]).timestamp()
    assert datetime.fromisoformat(job["deadline"]).timestamp() == pytest.approx(
        submitted + 0.5, abs=0.2
    )
    assert api.http.get(f"/render/jobs/{job_id}").json()["status"] == "processing"
    time.sleep(max(0.0, submitted + 0.6 - time.time()))
    assert Deadlines(api.settings, api.services.queue, api.services.database).turn()
    ended = api.http.get(f"/render/jobs/{job_id}").json()
    assert ended["status"] == "failed" and ended["error_code"] == "timeout", ended


def test_unknown_ids_are_job_not_found(api: InProcessApi, base: str) -> None:
    missing = api.http.get("/render/jobs/01nosuchjob")
    assert missing.status_code == 404 and missing.json() == {"error": "job_not_found"}
    other = api.http.post(
        "/v1/jobs",
        json={"operation": "resize", "input": {"url": f"{base}/photo.jpg"}, "params": {"width": 8}},
    ).json()
    answer = api.http.get(f"/render/jobs/{other['id']}")
    assert answer.status_code == 404 and answer.json() == {"error": "job_not_found"}


def test_a_full_queue_is_503(make_api: MakeApi, base: str) -> None:
    api = make_api(max_queued=1, fetch_allow_hosts=LOOPBACK)
    assert submit(api, request(base)).status_code == 201
    answer = submit(api, request(base))
    assert answer.status_code == 503
    assert answer.json() == {"error": "queue_full"}
    assert answer.headers["Retry-After"]
