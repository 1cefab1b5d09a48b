"""The render contract's failures carry its codes: a texture that is not there, and a stage
past its own deadline, which only a real task process can be held to (the worker kills it)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support import images
from tests.support.api import MakeApi
from tests.support.fileserver import serving
from tests.support.loopback import LOOPBACK
from tilework.worker.executor import Executor


def test_failures_carry_the_contracts_codes(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(fetch_allow_hosts=LOOPBACK)  # the assets are served from loopback
    assets = tmp_path / "assets"
    assets.mkdir()
    images.photo(assets / "photo.jpg", 160, 120)
    shutil.copy(assets / "photo.jpg", assets / "texture.jpg")
    with serving(assets) as base:
        body = {"image_url": f"{base}/photo.jpg", "texture_url": f"{base}/texture.jpg"}
        missing_texture = api.http.post(
            "/render/jobs", json={**body, "texture_url": f"{base}/missing.png"}
        ).json()
        api.work(Executor(api.settings))
        # Its own run: the worker kills the task process this one overruns in.
        slow = api.http.post(
            "/render/jobs", json={**body, "options": {"stage_timeout_seconds": 0.001}}
        ).json()
        api.work(Executor(api.settings))
    failed = api.http.get(f"/render/jobs/{missing_texture['job_id']}").json()
    assert failed["status"] == "failed" and failed["error_code"] == "download_failed", failed
    assert failed["error_message"].startswith("texture_url:")
    timed_out = api.http.get(f"/render/jobs/{slow['job_id']}").json()
    assert timed_out["status"] == "failed" and timed_out["error_code"] == "timeout", timed_out
    assert "fetch stage" in timed_out["error_message"]
    job = api.http.get(f"/v1/jobs/{slow['job_id']}").json()
    assert job["attempts"] == 1  # the caller's deadline is not spent twice
