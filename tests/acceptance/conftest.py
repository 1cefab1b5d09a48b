"""The acceptance tier: real ``tilework serve`` and ``tilework worker`` processes and the real
CLI. Most tests share the session's servers (``SharedServers``), each in a tenant of its own;
tests that kill, stop or reconfigure a server start their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import images
from tests.support.databases import BACKENDS, fresh_database
from tests.support.hosted import CONSUMER_PRICES, provider_entries
from tests.support.server import ServerProcess, SharedServers, providing_server


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


@pytest.fixture(scope="package")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second tilework server that runs hosted models for ``consumer`` and the like."""
    with providing_server(tmp_path_factory.mktemp("provider")) as running:
        yield running


@pytest.fixture(scope="package")
def consumer(
    provider: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server on PostgreSQL whose hosted models run on ``provider``; polling only every 2
    minutes, so within a test only a verified callback wakes a task. (The servers the other
    predict tests start are on SQLite: each backend runs predict.)"""
    configured = json.loads(provider_entries(provider))
    for name, price in CONSUMER_PRICES.items():
        configured[name]["prices"] = {"tilework/noop": price}
    folder = tmp_path_factory.mktemp("consumer")
    with fresh_database("postgresql", folder / "db") as url:
        running = ServerProcess(
            folder / "home",
            workers=2,
            database_url=url,
            providers=json.dumps(configured),
            provider_poll_seconds=120,
        ).start()
        yield running
        assert running.stop() == 0, running.log()
