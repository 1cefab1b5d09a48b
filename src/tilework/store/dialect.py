"""What differs between SQLite and PostgreSQL, in one object per database.

Everything else in the store is written once, in SQL both understand. The differences are how
many writers there can be, how a claim skips rows another claimer holds, how committed work
wakes idle workers and how hosts starting at once keep from migrating together.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

# One number for the advisory lock every migrating host takes: "tilework" in ASCII, as an int.
MIGRATION_LOCK_KEY = int.from_bytes(b"tilework", "big") >> 1
LIMITS_LOCK_KEY = MIGRATION_LOCK_KEY + 1
S = TypeVar("S", bound=sa.Select[Any])


class Dialect:
    """SQLite: one writer at a time, held from ``BEGIN IMMEDIATE`` to commit."""

    name = "sqlite"
    # Writers queue for the database's one write lock, so a process orders its own threads.
    single_writer = True

    def claimable(self, query: S) -> S:
        """``query`` (rows a claim may take) as it must be run inside the claiming write.

        With one writer no other claim can hold a row meanwhile: nothing to skip.
        """
        return query

    def notify(self, conn: sa.Connection, channel: str) -> None:
        """Wake processes listening on ``channel`` when ``conn`` commits. SQLite has no way;
        its workers poll."""

    def lock_for_migrations(self, conn: sa.Connection) -> None:
        """Hold, until ``conn`` commits, the lock that makes hosts migrate one at a time.

        A write transaction on SQLite already is that lock.
        """

    def lock_for_limits(self, conn: sa.Connection) -> None:
        """Hold, until ``conn`` commits, the lock that makes claims under concurrency limits
        take turns: each counts what runs and claims within the room it saw. A write
        transaction on SQLite already is that lock."""


class PostgresDialect(Dialect):
    name = "postgresql"
    single_writer = False

    def claimable(self, query: S) -> S:
        # Rows another claim has locked are skipped rather than waited for: two workers
        # claiming at once take different tasks.
        return query.with_for_update(skip_locked=True)

    def notify(self, conn: sa.Connection, channel: str) -> None:
        # Delivered at commit; repeats within one transaction are merged.
        conn.execute(sa.select(sa.func.pg_notify(channel, "")))

    def lock_for_migrations(self, conn: sa.Connection) -> None:
        # Released at commit. A second host waits here, then finds the schema current.
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))

    def lock_for_limits(self, conn: sa.Connection) -> None:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LIMITS_LOCK_KEY)))


def dialect_of(engine: sa.Engine) -> Dialect:
    return PostgresDialect() if engine.dialect.name == "postgresql" else Dialect()


def upsert_into(dialect_name: str, table: sa.Table) -> Any:
    """An ``INSERT`` into ``table`` that can say ``ON CONFLICT … DO UPDATE``, as the
    database named (both take the same clause)."""
    return (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
