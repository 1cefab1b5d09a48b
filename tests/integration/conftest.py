"""A running server per test module (a fresh home each), plus sample images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import images
from tests.server import ServerProcess
from tilework.client import Client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(
        tmp_path_factory.mktemp("srv") / "home",
        workers=2,
        lease_seconds=2,
        max_upload_bytes=5_000_000,
    ).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with server.client() as sdk:
        yield sdk


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 640, 480)
