"""The API tier: the app in this process (``tests/support/api.py``), on SQLite, no workers
unless a test runs one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import images
from tests.support.api import InProcessApi, MakeApi
from tilework.client import Client


@pytest.fixture
def api(make_api: MakeApi) -> InProcessApi:
    """An app with the production fetch policy."""
    return make_api()


@pytest.fixture
def http(api: InProcessApi) -> httpx.Client:
    """Requests to the app with its admin key."""
    return api.http


@pytest.fixture
def client(api: InProcessApi) -> Iterator[Client]:
    with api.client() as sdk:
        yield sdk


@pytest.fixture(scope="session")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 640, 480)
