"""A real browser for the tests: Debian's chromium, headless, driven through its chromedriver
with Selenium, that can reach 127.0.0.1 and nothing else (every other name fails to resolve),
as on a machine without internet. ``make test`` installs both packages; where they are missing
a test skips with a message, except in CI (``CI`` set), where it fails."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

T = TypeVar("T")
CHROMIUM = "chromium"
CHROMEDRIVER = "chromedriver"
# Every host name resolves to nothing but 127.0.0.1 itself: a CDN, a font host, anything.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


def browser_programs() -> tuple[str, str]:
    """The chromium and chromedriver programs; skipped (locally) or failed (in CI) without."""
    chromium, driver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if chromium is None or driver is None:
        message = "no chromium/chromedriver: `make test-packages` installs Debian's (as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return chromium, driver


@contextmanager
def offline_browser() -> Iterator[webdriver.Chrome]:
    """A headless chromium that resolves no name but 127.0.0.1's."""
    chromium, driver = browser_programs()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # As root (CI) chromium's sandbox cannot start; /dev/shm may be small in containers.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", OFFLINE):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield browser
    finally:
        browser.quit()


def wait_until(check: Callable[[], T | None], seconds: float = 30, what: str = "") -> T:
    """``check()``'s first truthy answer, polled; an assertion error after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.2)
