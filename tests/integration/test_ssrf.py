"""The server refuses URLs that reach private places: plainly bad ones at submit (400), the
rest when fetched (the job fails ``ssrf_blocked``), across every route that takes a URL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import hostile, images
from tests.server import ServerProcess
from tilework.client import Client

PUBLIC = "127.0.0.2"  # the one loopback address this server's allow-list names
BAD_URLS = [
    "http://127.0.0.1/photo.jpg",
    "http://localhost:8000/photo.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/photo.jpg",
    "http://[::ffff:10.0.0.1]/photo.jpg",
    "http://0x7f000001/photo.jpg",
    "http://100.64.0.9/photo.jpg",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("ssrf")
    running = ServerProcess(
        folder / "home",
        workers=1,
        max_attempts=1,
        max_upload_bytes=5_000_000,
        fetch_allow_hosts=json.dumps([PUBLIC]),
    ).start()
    yield running
    assert running.stop() == 0, running.log()


def post(server: ServerProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    return server.http.post(f"{server.url}{path}", json=body, timeout=30)


def job_count(server: ServerProcess) -> int:
    with server.client() as client:
        return len(client.jobs(limit=200)["items"])


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_plainly_private_input_url_is_400_at_submit(server: ServerProcess, url: str) -> None:
    before = job_count(server)
    answer = post(
        server, "/v1/jobs", {"operation": "resize", "input": {"url": url}, "params": {"width": 8}}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "ssrf_blocked"
    assert error["details"]["errors"][0]["field"] == "input.url"
    assert job_count(server) == before


def test_webhooks_render_and_prediction_urls_are_checked_at_submit(server: ServerProcess) -> None:
    before = job_count(server)
    job = {
        "operation": "resize",
        "input": {"url": "https://images.example/photo.jpg"},
        "params": {"width": 8},
        "webhook": {"url": "http://169.254.169.254/hook"},
    }
    answer = post(server, "/v1/jobs", job)
    assert answer.status_code == 400
    assert answer.json()["error"]["details"]["errors"][0]["field"] == "webhook.url"

    render = {
        "image_url": "https://images.example/room.jpg",
        "texture_url": "http://10.0.0.7/texture.png",
    }
    answer = post(server, "/render/jobs", render)
    assert answer.status_code == 400
    assert answer.json()["error"] == "validation_failed"
    assert "texture_url" in answer.json()["details"]

    prediction = {"input": {"image": "http://[fd00::1]/photo.png", "scale": 2}}
    answer = post(server, "/v1/models/tilework/upscale/predictions", prediction)
    assert answer.status_code == 400
    assert answer.json()["code"] == "ssrf_blocked"
    assert "input.image" in answer.json()["detail"] or "input.image" in answer.text
    assert job_count(server) == before


def test_a_redirect_to_loopback_fails_the_job_as_ssrf_blocked(
    server: ServerProcess, tmp_path: Path
) -> None:
    photo = images.photo(tmp_path / "photo.jpg", 64, 48).read_bytes()
    with hostile.serving({"/photo.jpg": hostile.body(photo, "image/jpeg")}) as internal:
        routes = {
            "/moved": hostile.redirect(f"{internal.url}/photo.jpg"),
            "/photo.jpg": hostile.body(photo, "image/jpeg"),
        }
        with hostile.serving(routes, host=PUBLIC) as public, server.client() as client:
            fine = _run(client, f"{public.url}/photo.jpg")
            assert fine["status"] == "succeeded", fine["error"]
            moved = _run(client, f"{public.url}/moved")
        assert internal.hits["/photo.jpg"] == 0
    assert moved["status"] == "failed"
    assert moved["error"]["code"] == "ssrf_blocked"
    assert moved["attempts"] == 1


def test_the_server_answers_after_hostile_sources(server: ServerProcess, tmp_path: Path) -> None:
    routes = {"/endless": hostile.endless_chunks(), "/bomb": hostile.gzip_bomb(64 << 20)}
    with hostile.serving(routes, host=PUBLIC) as public, server.client() as client:
        for path in routes:
            done = _run(client, f"{public.url}{path}")
            assert done["status"] == "failed"
            assert done["error"]["code"] == "download_failed", done["error"]
    assert server.http.get(f"{server.url}/healthz", timeout=10).status_code == 200


def _run(client: Client, url: str) -> dict[str, Any]:
    job = client.submit("resize", url=url, params={"width": 32})
    return client.wait(job["id"], timeout=60)
