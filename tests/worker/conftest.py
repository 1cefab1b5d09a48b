"""The worker tier: the real ``Worker`` loop in this process on real SQLite, run until idle or
on a thread; tasks run inline or in a real task process (``Executor``). The PostgreSQL wake-up
tests in ``test_claims.py`` make their own PostgreSQL databases: LISTEN/NOTIFY is theirs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def database_url(sqlite_url: str) -> Iterator[str]:
    """This tier's queue is on SQLite; the store tier runs the queue on both databases."""
    yield sqlite_url
