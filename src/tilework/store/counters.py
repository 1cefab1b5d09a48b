"""Counters that only go up, kept in the database: each added to in the transaction that does
what it counts, so every host's work is in one total and no total falls when rows it counted
are deleted (retention)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa

from tilework.store.database import Database
from tilework.store.dialect import upsert_into
from tilework.store.schema import counters


@dataclass(frozen=True)
class Counter:
    name: str
    labels: dict[str, str]
    value: float


def add(conn: sa.Connection, name: str, by: float = 1.0, **labels: str) -> None:
    """Add ``by`` to the counter ``name`` with ``labels``, made at zero if new (an upsert, so
    two hosts making one counter at once both count)."""
    if by == 0:
        return
    row = {"name": name, "labels": json.dumps(labels, sort_keys=True), "value": by}
    insert = upsert_into(conn.dialect.name, counters)
    conn.execute(
        insert.values(**row).on_conflict_do_update(
            index_elements=[counters.c.name, counters.c.labels],
            set_={"value": counters.c.value + insert.excluded.value},
        )
    )


def totals(database: Database) -> list[Counter]:
    with database.read() as conn:
        rows = conn.execute(sa.select(counters).order_by(counters.c.name, counters.c.labels))
        return [Counter(row.name, json.loads(row.labels), row.value) for row in rows]
