"""A user's own operation, from a package of theirs: installed for real, run by the real server.

``examples/texture-op`` is what the README walks through: an existing render function wrapped
as an operation and registered through the ``tilework.operations`` entry point. The test builds
and installs it with pip into a folder of its own, puts that folder on the server's path, and
runs a job with it; tilework itself is not touched.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support import images
from tests.support.server import REPO, ServerProcess

EXAMPLE = REPO / "examples" / "texture-op"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources.
    source = tmp_path_factory.mktemp("src") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert any(target.glob("tilework_texture_op-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def server(site: Path, tmp_path: Path) -> ServerProcess:
    running = ServerProcess(tmp_path / "home", workers=1)
    running.env["PYTHONPATH"] += os.pathsep + str(site)
    return running.start()


def render_directly(site: Path, photo: Path, texture: Path, scale: int) -> Image.Image:
    """The user's function called as they always have: the reference for the job's output."""
    sys.path.insert(0, str(site))
    try:
        from texture_op.pipeline import run_render_pipeline
    finally:
        sys.path.remove(str(site))
    with Image.open(photo) as image, Image.open(texture) as pattern:
        return run_render_pipeline(image, pattern, scale)


def test_an_installed_package_adds_an_operation_the_server_runs(
    server: ServerProcess, site: Path, tmp_path: Path
) -> None:
    photo = images.natural_photo(tmp_path / "room.png", 160, 120)
    texture = images.photo(tmp_path / "fabric.png", 48, 48)
    try:
        with server.client() as client:
            image_key = client.upload(photo)["key"]
            texture_key = client.upload(texture)["key"]
            params = {"texture_key": texture_key, "real_world_scale": 8}
            job = client.wait(client.submit("texture", key=image_key, params=params)["id"])
            assert job["status"] == "succeeded", job
            assert job["progress"]["stages"] == ["texture"]
            assert "render" in job["timings"]
            output = httpx.get(job["outputs"][0]["url"], timeout=60).content
            assert hashlib.sha256(output).hexdigest() == job["outputs"][0]["sha256"]

            # Bad parameters are refused at submit like any built-in operation's.
            missing = server.http.post(
                f"{server.url}/v1/jobs",
                json={
                    "operation": "texture",
                    "input": {"key": image_key},
                    "params": {"texture_key": "uploads/none"},
                },
            )
            assert missing.status_code == 422
            assert missing.json()["error"]["details"]["errors"][0]["field"] == "params.texture_key"
            typo = server.http.post(
                f"{server.url}/v1/jobs",
                json={
                    "operation": "texture",
                    "input": {"key": image_key},
                    "params": {"texture_key": texture_key, "real_world_scal": 8},
                },
            )
            assert typo.status_code == 422

            # The API's document describes it, from the live registry, and Replicate's clients
            # may name it by its package.
            document = server.http.get(f"{server.url}/openapi.json").json()
            schemas = document["components"]["schemas"]
            assert "texture" in schemas["JobCreate"]["discriminator"]["mapping"]
            params = schemas["JobCreate_texture"]["properties"]["params"]["$ref"]
            assert "texture_key" in schemas[params.rsplit("/", 1)[1]]["properties"]
            image = "data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode()
            by_package = server.http.post(
                f"{server.url}/v1/models/tilework-texture-op/texture/predictions",
                json={"input": {"image": image, "texture_key": texture_key}},
            )
            assert by_package.status_code == 201, by_package.text
    finally:
        assert server.stop() == 0, server.log()

    out = tmp_path / "out.png"
    out.write_bytes(output)
    with Image.open(out) as rendered:
        ours = np.asarray(rendered.convert("RGB"))
    reference = np.asarray(render_directly(site, photo, texture, 8))
    assert ours.shape == (120, 160, 3)
    assert np.array_equal(ours, reference)  # the job ran exactly the user's function
