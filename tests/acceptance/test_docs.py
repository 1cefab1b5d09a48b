"""The API docs as a newcomer opens them, on a machine without internet: Swagger UI and ReDoc
load their scripts and styles from tilework itself and render every operation."""

from __future__ import annotations

import re

import httpx
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from tests.support.browser import offline_browser, wait_until
from tests.support.server import ServerProcess


def test_the_docs_render_in_a_browser_that_reaches_nothing_but_the_server(
    loopback_server: ServerProcess,
) -> None:
    server = loopback_server  # any server will do: the docs are the same
    document = httpx.get(f"{server.url}/openapi.json").json()
    operations = sum(
        1
        for methods in document["paths"].values()
        for method in methods
        if method in ("get", "post", "put", "delete", "patch")
    )
    with offline_browser() as browser:
        # The control: the browser really cannot reach a CDN.
        with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED"):
            browser.get("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css")

        browser.get(f"{server.url}/docs")
        shown = wait_until(
            lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"), what="Swagger UI"
        )
        assert len(shown) == operations
        paths = {
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text for block in shown
        }
        assert "/v1/jobs" in {path.replace("\u200b", "") for path in paths}

        browser.get(f"{server.url}/redoc")
        rendered = wait_until(
            lambda: browser.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation']"),
            what="ReDoc",
        )
        assert len(rendered) == operations
    # Nothing on either page names another host.
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{server.url}{page}").text
        assert not re.search(r"(src|href)=[\"']?https?://", html), html
