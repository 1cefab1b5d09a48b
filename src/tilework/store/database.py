"""Engine set-up and transactions that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tilework.core.errors import ErrorCode, TileworkError
from tilework.store.dialect import Dialect, dialect_of

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_LOCK_POLL_SECONDS = 0.0005
WAL_SWITCH_POLL_SECONDS = 0.01
_WRITE = "tilework_write"


def driver_url(url: str) -> sa.URL:
    """``url`` with its driver named: plain ``postgresql://`` (and ``postgres://``, as hosted
    services print it) means psycopg 3, not SQLAlchemy's default psycopg2."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL and explicit write transactions."""
    parsed = driver_url(url)
    if parsed.get_backend_name() == "postgresql":
        # prepare_threshold=None: no server-side prepared statements, which a transaction-mode
        # pooler (PgBouncer, Supabase's pooler) cannot keep between transactions.
        return sa.create_engine(
            parsed, pool_pre_ping=True, connect_args={"prepare_threshold": None}
        )
    if parsed.get_backend_name() != "sqlite":
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:// or postgresql://",
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"check_same_thread": False}, pool_size=8)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so that _begin_sqlite decides.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    # NORMAL in WAL mode loses at most the last commits on power loss, never consistency.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch the database to WAL (a no-op once it is), waiting out other connections.

    Hosts opening a new database at once each read it, then want its exclusive lock to switch;
    SQLite answers "locked" at once rather than call the busy handler (each holds what the
    other waits for), so the switch is tried again in short steps.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(WAL_SWITCH_POLL_SECONDS)


def _begin_sqlite(connection: sa.Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
    # another process wrote in between; IMMEDIATE takes the write lock up front and waits for it.
    if connection.get_execution_options().get(_WRITE, False):
        _take_write_lock(connection.connection.dbapi_connection)
    else:
        connection.exec_driver_sql("BEGIN")


def _take_write_lock(dbapi_connection: Any) -> None:
    """BEGIN IMMEDIATE, waiting for other processes' writes in short even steps.

    SQLite's own busy handler sleeps in growing steps of up to 100 ms, so a submit that meets a
    worker's write could wait a tenth of a second for a lock freed after one millisecond.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(WRITE_LOCK_POLL_SECONDS)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


class Database:
    """Hands out transactions: ``write()`` for anything that changes rows, ``read()`` otherwise."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.dialect: Dialect = dialect_of(self.engine)
        # One writer (SQLite): threads of this process queue on a lock, in order, instead of
        # in SQLite's busy handler, which sleeps in growing steps and makes latency spiky.
        self._write_lock = threading.Lock() if self.dialect.single_writer else nullcontext()

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        with (
            self._write_lock,
            self._connect() as connection,
            connection.execution_options(**{_WRITE: True}).begin(),
        ):
            yield connection

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self._connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        try:
            connection = self.engine.connect()
        except sa.exc.OperationalError as exc:
            raise _unreachable() from exc
        try:
            with connection:
                yield connection
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            # The connection broke mid-transaction (the server went away): the same answer as
            # a refused connect, so callers see one retryable code, never a driver's traceback.
            if not _lost_connection(exc):
                raise
            raise _unreachable() from exc

    def ping(self) -> bool:
        try:
            with self.read() as connection:
                connection.exec_driver_sql("SELECT 1")
        except (TileworkError, sa.exc.SQLAlchemyError):
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def _unreachable() -> TileworkError:
    return TileworkError(ErrorCode.UNAVAILABLE, "the job database is unreachable")


def _lost_connection(exc: sa.exc.DBAPIError) -> bool:
    return exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError)


DEADLOCK_ATTEMPTS = 5
# PostgreSQL's codes for "this transaction was chosen to break a lock cycle" (deadlock) and
# "could not serialize": the transaction did nothing, and running it again is the remedy.
_process_databases: dict[str, Database] = {}
_process_lock = threading.Lock()


def process_database(url: str) -> Database:
    """One engine per process for the database at ``url``: a task process (which runs many
    tasks and was handed no engine) reads what it needs through it."""
    with _process_lock:
        if url not in _process_databases:
            _process_databases[url] = Database(url)
        return _process_databases[url]


_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
P = ParamSpec("P")
R = TypeVar("R")


def retry_deadlocks(method: Callable[P, R]) -> Callable[P, R]:
    """Run a write transaction again when PostgreSQL aborts it to break a deadlock.

    Two paths lock a job's rows in opposite orders and cannot both be changed: a claim locks
    the tasks it takes, then marks their jobs running; a cancel locks the job, then ends its
    tasks. When they meet, one is aborted whole, and is simply run again.
    """

    @functools.wraps(method)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return method(*args, **kwargs)
            except sa.exc.OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) not in _RETRY_SQLSTATES:
                    raise
                if attempt == DEADLOCK_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    return retried
