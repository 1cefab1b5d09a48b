"""Fixtures every tier shares: settings under a temporary home, and fresh databases cloned from
the session's migrated templates (see ``tests/README.md`` for what runs where)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import InProcessApi, MakeApi
from tests.support.databases import BACKENDS, fresh_database
from tests.support.s3 import S3Server, run_s3_server
from tests.support.testops import TEST_PLUGINS
from tilework.core.settings import Settings
from tilework.objects.factory import open_object_store
from tilework.objects.store import ObjectStore
from tilework.ops.registry import Registry
from tilework.queue.sql import SqlQueue
from tilework.store.database import Database
from tilework.wiring import queue_policy


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Quick leases and retries; the production fetch policy (no private address allowed)."""
    return Settings(
        home=tmp_path / "home",
        secret_key="test-secret",
        plugins=TEST_PLUGINS,
        lease_seconds=2,
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        task_timeout=20,
        port=0,
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    yield from run_s3_server(tmp_path_factory.mktemp("s3"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL; every test that uses it runs on SQLite and on PostgreSQL."""
    with fresh_database(request.param, tmp_path / "db") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A fresh SQLite database, for tiers that run on SQLite only."""
    with fresh_database("sqlite", tmp_path / "db") as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return Registry.load(settings)


@pytest.fixture
def queue(database: Database, registry: Registry, settings: Settings) -> SqlQueue:
    return SqlQueue(database, registry, queue_policy(settings))


@pytest.fixture
def objects(settings: Settings) -> ObjectStore:
    return open_object_store(settings)


@pytest.fixture
def make_api(settings: Settings, tmp_path: Path) -> Iterator[MakeApi]:
    """Apps on settings of the test's choosing, each with a fresh home and database (SQLite
    unless ``backend`` says otherwise)."""
    made: list[InProcessApi] = []
    with ExitStack() as stack:

        def make(backend: str = "sqlite", **overrides: Any) -> InProcessApi:
            folder = tmp_path / f"app-{len(made)}"
            url = stack.enter_context(fresh_database(backend, folder))
            values = {
                "home": folder / "home",
                "database_url": url,
                "max_upload_bytes": 5_000_000,
                **overrides,
            }
            # Validated, as the environment would be: a webhook secret becomes a SecretStr.
            app = InProcessApi(Settings(**{**settings.model_dump(), **values}))
            stack.callback(app.close)
            made.append(app)
            return app

        yield make
