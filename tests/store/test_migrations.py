"""The migrations create exactly the schema the code declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tilework.store.database import Database
from tilework.store.migrate import migrate
from tilework.store.schema import metadata


def test_migrated_schema_matches_the_declared_tables(database: Database) -> None:
    with database.read() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_migrating_twice_is_harmless(database: Database) -> None:
    migrate(database)
    with database.read() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version == "0001"
