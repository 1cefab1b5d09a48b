"""Bring a database's schema to the newest revision (run at start by serve and worker)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from tilework.store.database import Database

SCRIPTS = Path(__file__).with_name("migrations")  # the alembic scripts folder beside this module


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def migrate(database: Database, revision: str = "head") -> None:
    config = alembic_config(database)
    with database.write() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
