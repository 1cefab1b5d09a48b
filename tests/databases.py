"""Fresh databases for tests: a SQLite file, or a PostgreSQL database created and dropped.

PostgreSQL is the one on 127.0.0.1:5432 (trust auth) unless ``TILEWORK_TEST_POSTGRES`` names
another server's maintenance database. Tests do not skip when it is away: CI must run both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

ADMIN_URL = os.environ.get(
    "TILEWORK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """Yield the URL of a new, empty database of ``backend``; it is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'tilework.db'}"
        return
    name = f"tilework_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
