"""``examples/webapp`` as the README walks through it: its Node backend in front of a live
server, its page in a real browser. The page uploads an image, follows the job's progress
through the backend and shows the result; the backend's key never reaches the page."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.support import images
from tests.support.browser import offline_browser, wait_until
from tests.support.server import REPO, ServerProcess, free_port

WEBAPP = REPO / "examples" / "webapp"


@pytest.fixture
def backend(loopback_server: ServerProcess, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The example's backend on a free port, with a key of a tenant of its own: its URL and
    that key."""
    node = shutil.which("node")
    assert node, "Node.js (20 or later) runs the web app example; install it"
    key = loopback_server.tenant_key()
    port = free_port()
    log = (tmp_path / "webapp.log").open("wb")
    process = subprocess.Popen(
        [node, "server.mjs"],
        cwd=WEBAPP,
        env={
            **os.environ,
            "TILEWORK_URL": loopback_server.url,
            "TILEWORK_API_KEY": key,
            "PORT": str(port),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url), seconds=20, what="the web app's backend")
        yield url, key
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_the_page_uploads_follows_progress_and_shows_the_result(
    backend: tuple[str, str], tmp_path: Path
) -> None:
    url, key = backend
    picture = images.photo(tmp_path / "photo.png", 48, 32)
    with offline_browser() as browser:
        browser.get(url)
        browser.find_element(By.ID, "image").send_keys(str(picture))
        browser.find_element(By.ID, "submit").click()
        result = browser.find_element(By.ID, "result")
        wait_until(
            lambda: browser.execute_script(
                "const img = arguments[0]; return img.complete && img.naturalWidth;", result
            ),
            seconds=60,
            what="the result image",
        )
        size = browser.execute_script(
            "const img = arguments[0]; return [img.naturalWidth, img.naturalHeight];", result
        )
        log = browser.find_element(By.ID, "log").text.splitlines()
        status = browser.find_element(By.ID, "status").text
        progress = browser.find_element(By.ID, "progress").get_attribute("value")
        page = browser.page_source
    assert size == [96, 64]  # upscaled 2x, as the backend's preset says
    assert status.startswith("succeeded") and progress == "100"
    # Live progress: the job was seen before it ended, then its end, in order.
    assert log[-1].startswith("succeeded succeeded 100")
    assert any(line.split()[0] in ("queued", "running", "started", "progress") for line in log)
    # The page never held the key: not in it, nor in anything the backend served it.
    assert key not in page
    for path in ("/", "/app.js"):
        assert key not in httpx.get(url + path).text


def test_the_backend_relays_only_its_own_jobs_and_refuses_what_is_not_an_image(
    backend: tuple[str, str], loopback_server: ServerProcess, tmp_path: Path
) -> None:
    url, _ = backend
    with loopback_server.tenant() as stranger:  # another tenant, not this backend
        other = stranger.submit("noop", url="http://127.0.0.1:9/x.png")["id"]
    assert httpx.get(f"{url}/api/jobs/{other}/events").status_code == 404
    refused = httpx.post(f"{url}/api/jobs?preset=thumbnail", content=b"not an image")
    assert refused.status_code == 415
    assert refused.json()["error"]["code"] == "unsupported_format"
    unknown = httpx.post(f"{url}/api/jobs?preset=everything", content=b"x")
    assert unknown.status_code == 422
