"""Fresh, migrated databases for tests: a SQLite file, or a PostgreSQL database.

Each backend is migrated once per test session into a template, and every test database is a
copy of it: a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL (as
procrastinate's tests do). A test gets the schema of the code under test without paying for
the migrations; ``tests/store/test_migrations.py`` is what runs them from an empty database.

PostgreSQL is the one on 127.0.0.1:5432 (trust auth) unless ``TILEWORK_TEST_POSTGRES`` names
another server's maintenance database. Tests do not skip when it is away: CI must run both.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from tilework.store.database import Database
from tilework.store.migrate import migrate

ADMIN_URL = os.environ.get(
    "TILEWORK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]
PREFIX = "tilework_test_"  # every database the tests make, templates included


def postgres_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(statement)


class Templates:
    """This process's migrated templates, made the first time each backend is asked for and
    dropped when the process exits (a test session, a bench run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folder: Path | None = None
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        atexit.register(self.drop)

    def sqlite(self) -> Path:
        with self._lock:
            if self._sqlite is None:
                self._folder = Path(tempfile.mkdtemp(prefix="tilework-template-"))
                path = self._folder / "tilework.db"
                _migrated(f"sqlite:///{path}")
                self._sqlite = path
            return self._sqlite

    def postgres(self) -> str:
        with self._lock:
            if self._postgres is None:
                name = f"{PREFIX}template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
                _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                _migrated(postgres_url(name))
                self._postgres = name
            return self._postgres

    def drop(self) -> None:
        with self._lock:
            if self._postgres is not None:
                _admin(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self._postgres)
                    )
                )
                self._postgres = None
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = self._sqlite = None


def _migrated(url: str) -> None:
    database = Database(url)
    try:
        migrate(database)
    finally:
        # Closed, SQLite folds its write-ahead log into the file, and PostgreSQL lets the
        # template be copied (CREATE DATABASE refuses a template with connections).
        database.dispose()


TEMPLATES = Templates()


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """Yield the URL of a new database of ``backend`` with the current schema; a PostgreSQL
    database is dropped afterwards (a SQLite file goes with ``folder``)."""
    if backend == "sqlite":
        path = folder / "tilework.db"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATES.sqlite(), path)
        yield f"sqlite:///{path}"
        return
    name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    _admin(
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATES.postgres())
        )
    )
    try:
        yield postgres_url(name)
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def empty_database(backend: str, folder: Path) -> Iterator[str]:
    """Yield the URL of a new database of ``backend`` with no schema at all."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'empty.db'}"
        return
    name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield postgres_url(name)
    finally:
        _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
