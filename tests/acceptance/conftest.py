"""The acceptance tier: real ``tilework serve`` and ``tilework worker`` processes and the real
CLI. Most tests share the session's servers (``SharedServers``), each in a tenant of its own;
tests that kill, stop or reconfigure a server start their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import images
from tests.support.databases import BACKENDS
from tests.support.server import ServerProcess, SharedServers


@pytest.fixture(scope="package")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServers]:
    """Started on first use, stopped after the tier's last test."""
    shared = SharedServers(tmp_path_factory.mktemp("shared"))
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, servers: SharedServers) -> ServerProcess:
    """The shared server of each backend, with the production fetch policy."""
    return servers.get(request.param)


@pytest.fixture
def loopback_server(servers: SharedServers) -> ServerProcess:
    """The shared SQLite server that may reach the tests' loopback sources and receivers."""
    return servers.get("sqlite", loopback=True)


@pytest.fixture
def tls_server(servers: SharedServers) -> ServerProcess:
    """The shared SQLite server that serves HTTPS (fal's Python client speaks nothing else)
    and may deliver to loopback receivers."""
    return servers.get("sqlite", loopback=True, tls=True)


@pytest.fixture(scope="session")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.photo(tmp_path_factory.mktemp("img") / "photo.jpg", 640, 480)
