"""Bring a database's schema to the newest revision (run at start by serve and worker).

Hosts starting at once take turns: each migrates inside one transaction holding the database's
migration lock (``Dialect.lock_for_migrations``), so the first upgrades and the rest find the
schema current.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from tilework.store.database import Database

SCRIPTS = Path(__file__).with_name("migrations")  # the alembic scripts folder beside this module


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def migrate(database: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to ``revision``; the revisions before and after (None: an empty database)."""
    config = alembic_config(database)
    with database.write() as connection:
        database.dialect.lock_for_migrations(connection)
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after
