"""A running server per test (a fresh home and database each), plus sample images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import images
from tests.databases import BACKENDS
from tests.server import ServerProcess, running_server
from tilework.client import Client


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server on a fresh database, once on SQLite and once on PostgreSQL."""
    with running_server(
        tmp_path, request.param, lease_seconds=2, max_upload_bytes=5_000_000
    ) as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with server.client() as sdk:
        yield sdk


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 640, 480)
