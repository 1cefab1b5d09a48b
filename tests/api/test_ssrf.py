"""URLs that reach private places, refused by the app: plainly bad ones at submit (400), the
rest when fetched (the job fails ``ssrf_blocked``), across every route that takes a URL.

The app allows one loopback address, 127.0.0.2, as an operator's allow-list would name a host:
the "public" sources live there, and 127.0.0.1 plays the private network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import hostile, images
from tests.support.api import InProcessApi, MakeApi
from tilework.client import Client

PUBLIC = "127.0.0.2"
BAD_URLS = [
    "http://127.0.0.1/photo.jpg",
    "http://localhost:8000/photo.jpg",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/photo.jpg",
    "http://[::ffff:10.0.0.1]/photo.jpg",
    "http://0x7f000001/photo.jpg",
    "http://100.64.0.9/photo.jpg",
]


@pytest.fixture
def api(make_api: MakeApi) -> InProcessApi:
    return make_api(max_attempts=1, fetch_allow_hosts=[PUBLIC])


def post(api: InProcessApi, path: str, body: dict[str, Any]) -> httpx.Response:
    return api.http.post(path, json=body)


def job_count(client: Client) -> int:
    return len(client.jobs(limit=200)["items"])


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_plainly_private_input_url_is_400_at_submit(
    api: InProcessApi, client: Client, url: str
) -> None:
    answer = post(
        api, "/v1/jobs", {"operation": "resize", "input": {"url": url}, "params": {"width": 8}}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "ssrf_blocked"
    assert error["details"]["errors"][0]["field"] == "input.url"
    assert job_count(client) == 0


def test_webhooks_render_and_prediction_urls_are_checked_at_submit(
    api: InProcessApi, client: Client
) -> None:
    job = {
        "operation": "resize",
        "input": {"url": "https://images.example/photo.jpg"},
        "params": {"width": 8},
        "webhook": {"url": "http://169.254.169.254/hook"},
    }
    answer = post(api, "/v1/jobs", job)
    assert answer.status_code == 400
    assert answer.json()["error"]["details"]["errors"][0]["field"] == "webhook.url"

    render = {
        "image_url": "https://images.example/room.jpg",
        "texture_url": "http://10.0.0.7/texture.png",
    }
    answer = post(api, "/render/jobs", render)
    assert answer.status_code == 400
    assert answer.json()["error"] == "validation_failed"
    assert "texture_url" in answer.json()["details"]

    prediction = {"input": {"image": "http://[fd00::1]/photo.png", "scale": 2}}
    answer = post(api, "/v1/models/tilework/upscale/predictions", prediction)
    assert answer.status_code == 400
    assert answer.json()["code"] == "ssrf_blocked"
    assert "input.image" in answer.json()["detail"] or "input.image" in answer.text
    assert job_count(client) == 0


def test_a_redirect_to_loopback_fails_the_job_as_ssrf_blocked(
    api: InProcessApi, client: Client, tmp_path: Path
) -> None:
    photo = images.photo(tmp_path / "photo.jpg", 64, 48).read_bytes()
    with hostile.serving({"/photo.jpg": hostile.body(photo, "image/jpeg")}) as internal:
        routes = {
            "/moved": hostile.redirect(f"{internal.url}/photo.jpg"),
            "/photo.jpg": hostile.body(photo, "image/jpeg"),
        }
        with hostile.serving(routes, host=PUBLIC) as public:
            fine = _run(api, client, f"{public.url}/photo.jpg")
            assert fine["status"] == "succeeded", fine["error"]
            moved = _run(api, client, f"{public.url}/moved")
        assert internal.hits["/photo.jpg"] == 0
    assert moved["status"] == "failed"
    assert moved["error"]["code"] == "ssrf_blocked"
    assert moved["attempts"] == 1


def test_the_app_answers_after_hostile_sources(api: InProcessApi, client: Client) -> None:
    routes = {"/endless": hostile.endless_chunks(), "/bomb": hostile.gzip_bomb(64 << 20)}
    with hostile.serving(routes, host=PUBLIC) as public:
        for path in routes:
            done = _run(api, client, f"{public.url}{path}")
            assert done["status"] == "failed"
            assert done["error"]["code"] == "download_failed", done["error"]
    assert api.http.get("/healthz").status_code == 200


def _run(api: InProcessApi, client: Client, url: str) -> dict[str, Any]:
    job = client.submit("resize", url=url, params={"width": 32})
    api.work()
    return client.job(job["id"])
