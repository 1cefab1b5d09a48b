"""A real PostgreSQL deadlock: the victim transaction is run again and both writes land."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.databases import fresh_database
from tilework.store.database import Database, retry_deadlocks


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Database]:
    with fresh_database("postgresql", tmp_path) as url:
        db = Database(url)
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE cells (id int PRIMARY KEY, value int)")
            conn.exec_driver_sql("INSERT INTO cells VALUES (1, 0), (2, 0)")
        yield db
        db.dispose()


def test_the_transaction_chosen_to_break_a_deadlock_runs_again(postgres: Database) -> None:
    both_hold_one = threading.Barrier(2, timeout=10)
    runs = {1: 0, 2: 0}

    @retry_deadlocks
    def write(first: int, second: int) -> None:
        runs[first] += 1
        with postgres.write() as conn:
            bump = sa.text("UPDATE cells SET value = value + 1 WHERE id = :id")
            conn.execute(bump, {"id": first})
            if runs[first] == 1:  # the first time, each waits until the other holds a row
                both_hold_one.wait()
            conn.execute(bump, {"id": second})

    threads = [threading.Thread(target=write, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(runs.values()) == [1, 2]  # one of them was the victim and ran again
    with postgres.read() as conn:
        values = [row.value for row in conn.exec_driver_sql("SELECT value FROM cells ORDER BY id")]
    assert values == [2, 2]  # and every write landed exactly once
