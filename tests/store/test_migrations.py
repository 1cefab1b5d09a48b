"""The migrations create exactly the schema the code declares, on SQLite and PostgreSQL.

Every other test starts from a copy of a template migrated once per session
(``tests/support/databases.py``); these start from empty databases and run the migrations.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.support.databases import BACKENDS, empty_database
from tilework.store.database import Database
from tilework.store.migrate import alembic_config, migrate
from tilework.store.schema import metadata


@pytest.fixture(params=BACKENDS)
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database brought to the newest revision by the migrations."""
    with empty_database(request.param, tmp_path) as url:
        database = Database(url)
        migrate(database)
        yield database
        database.dispose()


def test_migrated_schema_matches_the_declared_tables(migrated: Database) -> None:
    with migrated.read() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_migrating_twice_is_harmless(migrated: Database) -> None:
    migrate(migrated)
    with migrated.read() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version == ScriptDirectory.from_config(alembic_config(migrated)).get_current_head()


def schema_of(database: Database) -> dict[str, Any]:
    """What a database's tables are, as reflected: columns, keys and indexes."""
    inspector = sa.inspect(database.engine)
    return {
        table: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in inspector.get_indexes(table)
            ),
        }
        for table in sorted(inspector.get_table_names())
        if table != "alembic_version"
    }


@pytest.mark.parametrize("backend", BACKENDS)
def test_step_by_step_migration_equals_a_schema_created_from_scratch(
    backend: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        empty_database(backend, tmp_path / "a") as stepped_url,
        empty_database(backend, tmp_path / "b") as created_url,
    ):
        stepped, created = Database(stepped_url), Database(created_url)
        revisions = list(ScriptDirectory.from_config(alembic_config(stepped)).walk_revisions())
        for revision in reversed(revisions):  # oldest first, one at a time
            migrate(stepped, revision.revision)
        metadata.create_all(created.engine)
        try:
            assert schema_of(stepped) == schema_of(created)
            assert schema_of(stepped)  # the comparison saw tables
        finally:
            stepped.dispose()
            created.dispose()


HOSTS = 4
MIGRATION_SECONDS = 60


@pytest.mark.parametrize("backend", BACKENDS)
def test_hosts_starting_at_once_migrate_once(backend: str, tmp_path: Path) -> None:
    """Several hosts pointed at one empty database migrate together: one upgrades, the others
    wait for its lock and find the schema current (without the lock, PostgreSQL's concurrent
    CREATE TABLEs collide and hosts fail to start)."""
    with empty_database(backend, tmp_path) as url:
        hosts = [Database(url) for _ in range(HOSTS)]
        start = threading.Barrier(HOSTS)

        def start_host(database: Database) -> tuple[str | None, str | None]:
            start.wait()
            return migrate(database)

        pool = ThreadPoolExecutor(HOSTS)
        try:
            # Bounded: hosts without the lock block on each other's DDL rather than fail.
            futures = [pool.submit(start_host, database) for database in hosts]
            outcomes = [future.result(timeout=MIGRATION_SECONDS) for future in futures]
            head = ScriptDirectory.from_config(alembic_config(hosts[0])).get_current_head()
            assert Counter(outcomes) == {(None, head): 1, (head, head): HOSTS - 1}
            with hosts[0].read() as connection:
                diff = compare_metadata(MigrationContext.configure(connection), metadata)
            assert diff == []
        finally:
            pool.shutdown(wait=False)
            for database in hosts:
                database.dispose()
