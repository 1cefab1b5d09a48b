"""Shared fixtures: settings under a temporary home, a migrated database (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import BACKENDS, fresh_database
from tests.s3 import S3Server, run_s3_server
from tilework.core.settings import Settings
from tilework.objects.factory import open_object_store
from tilework.objects.store import ObjectStore
from tilework.ops.registry import Registry
from tilework.store.database import Database
from tilework.store.migrate import migrate
from tilework.store.queue import Queue
from tilework.wiring import queue_policy

TEST_PLUGINS = ["tests.plugins.testops"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        secret_key="test-secret",
        plugins=TEST_PLUGINS,
        lease_seconds=2,
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        task_timeout=20,
        port=0,
        fetch_allow_hosts=["127.0.0.1"],  # the tests' file servers
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from run_s3_server(tmp_path_factory.mktemp("s3"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL; every test that uses it runs on SQLite and on PostgreSQL."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    migrate(db)
    yield db
    db.dispose()


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return Registry.load(settings)


@pytest.fixture
def queue(database: Database, registry: Registry, settings: Settings) -> Queue:
    return Queue(database, registry, queue_policy(settings))


@pytest.fixture
def objects(settings: Settings) -> ObjectStore:
    return open_object_store(settings)
