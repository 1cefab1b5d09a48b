"""The console (``/console``) in a real browser: Debian's chromium through its chromedriver,
against the shared SQLite server and its workers, each test in tenants of its own.

Screenshots go to ``build/screenshots/`` (not committed); the README shows one of them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.support import images
from tests.support.browser import offline_browser, wait_until
from tests.support.server import REPO, ServerProcess, SharedServers

SCREENSHOTS = REPO / "build" / "screenshots"
UPSCALE = {"scale": 4, "tile": 32, "overlap": 8}


@pytest.fixture
def server(servers: SharedServers) -> ServerProcess:
    return servers.get("sqlite")


def sign_in(browser: webdriver.Chrome, server: ServerProcess, key: str) -> None:
    browser.get(f"{server.url}/console")
    wait_until(lambda: "/console/login" in browser.current_url, what="the sign-in page")
    browser.find_element(By.ID, "key").send_keys(key)
    browser.find_element(By.ID, "sign-in").click()
    wait_until(lambda: browser.find_elements(By.ID, "live-toggle"), what="a signed-in page")


def sign_out(browser: webdriver.Chrome) -> None:
    browser.find_element(By.CSS_SELECTOR, "form[action$='/logout'] button").click()
    wait_until(lambda: "/console/login" in browser.current_url, what="signed out")


def text(browser: webdriver.Chrome, element_id: str) -> str:
    """An element's text, read in one script: the page's live parts replace their elements
    every second, so an element found first and read after may be gone."""
    found: str = browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';",
        element_id,
    )
    return found


def attributes(browser: webdriver.Chrome, selector: str, name: str) -> list[str]:
    """An attribute of every element ``selector`` matches, read in one script."""
    found: list[str] = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])]"
        ".map(e => e.getAttribute(arguments[1]));",
        selector,
        name,
    )
    return found


def click(browser: webdriver.Chrome, element_id: str) -> None:
    """Click the button ``element_id`` in one script (a live part may have just replaced it)."""
    assert browser.execute_script(
        "const e = document.getElementById(arguments[0]); if (e) { e.click(); } return !!e;",
        element_id,
    ), element_id


def status_of(browser: webdriver.Chrome) -> str:
    return text(browser, "job-status")


def fetch_status(browser: webdriver.Chrome, method: str, path: str, body: dict[str, str]) -> int:
    """The status a same-origin request from the page gets (its cookies go with it)."""
    script = """
        const [method, path, body, done] = arguments;
        const init = {method, credentials: "same-origin", redirect: "manual"};
        if (method === "POST") { init.body = new URLSearchParams(body); }
        fetch(path, init).then(r => done(r.status), e => done(String(e)));
    """
    status: Any = browser.execute_async_script(script, method, path, body)
    return int(status)


def loaded(browser: webdriver.Chrome, element_id: str) -> bool:
    return bool(
        browser.execute_script(
            "const i = document.getElementById(arguments[0]);"
            "return !!i && i.complete && i.naturalWidth > 0;",
            element_id,
        )
    )


def screenshot(browser: webdriver.Chrome, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 1600)
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_sign_in_watch_an_upscale_to_its_pictures_and_tiles(
    server: ServerProcess, tmp_path: Path
) -> None:
    key, other = server.tenant_key(), server.tenant_key()
    with server.client(key) as client:
        upload = client.upload(images.photo(tmp_path / "photo.png", 64, 48))["key"]
    with offline_browser() as browser:
        browser.get(f"{server.url}/console")
        wait_until(lambda: "/console/login" in browser.current_url, what="sent to sign in")
        browser.find_element(By.ID, "key").send_keys("tw_" + "x" * 43)
        browser.find_element(By.ID, "sign-in").click()
        wait_until(lambda: text(browser, "login-error"), what="a wrong key refused")
        assert "not a valid API key" in text(browser, "login-error")
        assert browser.get_cookie("tw_console") is None

        # Submitted now, to start in a few seconds: the page first shows it queued.
        start = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
        with server.client(key) as client:
            job = client.submit("upscale", key=upload, params=UPSCALE, run_at=start, cache=False)
        browser.get(f"{server.url}/console/jobs/{job['id']}")
        wait_until(lambda: "/console/login" in browser.current_url, what="sent to sign in")
        browser.find_element(By.ID, "key").send_keys(key)
        browser.find_element(By.ID, "sign-in").click()
        # Back where it was sent from, signed in with a cookie scripts cannot read.
        wait_until(lambda: status_of(browser), what="the job's page")
        cookie = browser.get_cookie("tw_console")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert status_of(browser) == "queued"
        browser.execute_script("window.sameDocument = true")
        wait_until(lambda: status_of(browser) == "succeeded", seconds=120, what="succeeded")
        # Followed live: the page was never loaded again.
        assert browser.execute_script("return window.sameDocument === true")

        cells = attributes(browser, "#tile-grid .cell", "data-state")
        assert len(cells) >= 4
        assert set(cells) == {"succeeded"}
        wait_until(
            lambda: all(loaded(browser, name) for name in ("preview-input", "preview-output-0")),
            seconds=30,
            what="the thumbnails",
        )
        wait_until(lambda: browser.find_elements(By.ID, "compare"), what="the comparison")
        wait_until(
            lambda: browser.execute_script(
                "return [...document.querySelectorAll('#compare img')]"
                ".every(i => i.complete && i.naturalWidth === 160)"
            ),
            what="both crops at 1:1",
        )
        slider = browser.find_element(By.ID, "compare-slider")
        browser.execute_script(
            "arguments[0].value = 20; arguments[0].dispatchEvent(new Event('input'))", slider
        )
        clip = browser.execute_script(
            "return document.querySelector('#compare img.before').style.clipPath"
        )
        assert clip == "inset(0px 80% 0px 0px)", clip
        timeline = text(browser, "timeline")
        assert "queued" in timeline and "succeeded" in timeline and "stage 2" in timeline
        screenshot(browser, "console-job")

        # Another tenant sees neither the job nor its pictures.
        preview_path = f"/console/jobs/{job['id']}/previews/output-0"
        assert fetch_status(browser, "GET", preview_path, {}) == 200
        sign_out(browser)
        sign_in(browser, server, other)
        assert fetch_status(browser, "GET", preview_path, {}) == 404
        assert fetch_status(browser, "GET", f"/console/jobs/{job['id']}", {}) == 404
        browser.get(f"{server.url}/console/jobs")
        assert job["id"] not in text(browser, "jobs")


def test_cancel_with_the_button_and_what_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    key = server.tenant_key()
    with server.client(key) as client:
        tenant = client.current_key()["tenant"]
        tiny = client.upload(images.photo(tmp_path / "tiny.png", 8, 8))["key"]
        job = client.submit("noop", key=tiny, params={"sleep_ms": 20_000})
    with server.client() as admin:
        reader = admin.create_key(tenant, "watches", role="read_only")["key"]
    with offline_browser() as browser:
        sign_in(browser, server, key)
        browser.get(f"{server.url}/console/jobs/{job['id']}")
        wait_until(lambda: status_of(browser) == "running", seconds=60, what="running")
        # A POST without the session's CSRF token is refused, and changes nothing.
        assert fetch_status(browser, "POST", f"/console/jobs/{job['id']}/cancel", {}) == 403
        assert status_of(browser) == "running"
        click(browser, "cancel")
        wait_until(lambda: status_of(browser) == "canceled", what="canceled by the button")
        with server.client(key) as client:
            assert client.job(job["id"])["status"] == "canceled"

        # A read-only key sees no buttons, and its POSTs are refused even with the token.
        sign_out(browser)
        sign_in(browser, server, reader)
        browser.get(f"{server.url}/console/jobs/{job['id']}")
        wait_until(lambda: status_of(browser) == "canceled", what="the job, read only")
        assert not browser.find_elements(By.ID, "retry")
        token = browser.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value")
        assert token
        path = f"/console/jobs/{job['id']}/retry"
        assert fetch_status(browser, "POST", path, {"csrf": token}) == 403
    with server.client(key) as client:
        assert client.job(job["id"])["retried_by"] is None


def test_a_bulk_retry_of_everything_a_filter_matches(server: ServerProcess, tmp_path: Path) -> None:
    key = server.tenant_key()
    later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    with server.client(key) as client:
        tiny = client.upload(images.photo(tmp_path / "tiny.png", 8, 8))["key"]
        doomed = [
            client.submit("noop", key=tiny, params={"tasks": 2}, run_at=later) for _ in range(3)
        ]
        for job in doomed:
            client.cancel(job["id"])
        kept = client.wait(client.submit("noop", key=tiny)["id"])
    assert kept["status"] == "succeeded"
    with offline_browser() as browser:
        sign_in(browser, server, key)
        browser.get(f"{server.url}/console/jobs?status=canceled")
        rows = attributes(browser, "#jobs tbody tr[data-job]", "data-job")
        assert set(rows) == {job["id"] for job in doomed}
        click(browser, "bulk-retry")
        wait_until(lambda: text(browser, "bulk-status") == "done", seconds=60, what="done")
        assert text(browser, "bulk-done") == "3"
        screenshot(browser, "console-bulk")
    deadline = time.monotonic() + 60
    with server.client(key) as client:
        retries = [client.job(job["id"])["retried_by"] for job in doomed]
        assert all(retries), retries
        for retry in retries:
            while client.job(retry)["status"] != "succeeded":
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert client.job(kept["id"])["retried_by"] is None
