"""How workers claim: in batches when tasks are quick; on PostgreSQL, woken by NOTIFY when idle."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.support.databases import fresh_database
from tests.support.jobs import submit
from tests.support.workers import ended, wait_for, working
from tilework.core.jobs import JobStatus, TaskStatus
from tilework.core.settings import Settings
from tilework.ops.registry import Registry
from tilework.queue.sql import SqlQueue
from tilework.store.database import Database
from tilework.store.notify import PostgresListener
from tilework.store.schema import tasks
from tilework.wiring import queue_policy
from tilework.worker import loop
from tilework.worker.executor import Executor
from tilework.worker.loop import Worker


def test_quick_tasks_are_claimed_and_reported_in_batches(
    settings: Settings, queue: SqlQueue
) -> None:
    with working(settings, queue, Executor(settings)):
        job = wait_for(queue, submit(queue, "noop", tasks=400), ended, timeout=60)
    assert job.status is JobStatus.SUCCEEDED and job.tasks_done == 400
    assert all(
        task.status is TaskStatus.SUCCEEDED and task.attempts == 1
        for task in queue.job_tasks(job.id)
    )
    with queue.db.read() as conn:
        rows = conn.execute(
            sa.select(tasks.c.started_at, tasks.c.completed_at).order_by(tasks.c.id)
        ).all()
    # One claim stamps its batch with one start time, one report with one completion time.
    # The first claim takes a single task: nothing is known yet of how long tasks take.
    claims = Counter(row.started_at for row in rows)
    reports = Counter(row.completed_at for row in rows)
    assert claims[rows[0].started_at] == 1
    assert max(claims.values()) > 10 and max(reports.values()) > 10


@contextmanager
def postgres_queue(settings: Settings, tmp_path: Path) -> Iterator[SqlQueue]:
    with fresh_database("postgresql", tmp_path) as url:
        database = Database(url)
        try:
            yield SqlQueue(database, Registry.load(settings), queue_policy(settings))
        finally:
            database.dispose()


class WatchedListener(PostgresListener):
    """The worker's real listener, recording each wait it is asked for, so that a test can see
    when the worker has gone idle instead of guessing with a sleep."""

    def __init__(self, url: str) -> None:
        self.waits: list[float] = []  # the timeout of every wait, in order
        self.idle = threading.Event()
        self._woken = False
        super().__init__(url)

    def wake(self) -> None:
        self._woken = True
        super().wake()

    def wait(self, timeout: float, since: int | None = None) -> None:
        self.waits.append(timeout)
        # Idle: the worker found nothing and starts its long wait with no wake due, after the
        # listener's own wake on connecting; now only a notification (or a stop) ends it early.
        if timeout == loop.IDLE_SECONDS and self._woken and since == self.mark():
            self.idle.set()
        super().wait(timeout, since)


@contextmanager
def listening_worker(
    settings: Settings, url: str
) -> Iterator[tuple[Counter[str], WatchedListener]]:
    """A worker on its own connections with a LISTEN, once it is idle; yields a count of its
    statements and its listener."""
    database = Database(url)
    statements: Counter[str] = Counter()

    def count(*args: Any) -> None:
        statements[args[2].split()[0]] += 1

    event.listen(database.engine, "before_cursor_execute", count)
    queue = SqlQueue(database, Registry.load(settings), queue_policy(settings))
    signal = WatchedListener(url)
    worker = Worker(settings, queue, Executor(settings), signal=signal)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        # Past start-up (the first sweep and claims): listening, and waiting to be woken.
        assert signal.idle.wait(30), "the worker never went idle"
        yield statements, signal
    finally:
        worker.stop()
        worker.stop()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"
        signal.close()
        database.dispose()


def test_an_idle_worker_queries_about_once_a_second(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"lease_seconds": 30})  # no sweep in the window
    with (
        postgres_queue(settings, tmp_path) as queue,
        listening_worker(settings, queue.db.url) as (statements, signal),
    ):
        before, waits_before = sum(statements.values()), len(signal.waits)
        started = time.monotonic()
        time.sleep(4)
        idle = sum(statements.values()) - before
        elapsed = time.monotonic() - started
        waits = signal.waits[waits_before:]
    # Every look is followed by a wait of IDLE_SECONDS, not a poll's backoff (poll_max_seconds,
    # 0.5 s), and nothing wakes it sooner: one claim a second at most, however slow the
    # machine; and it does look again, long before a minute. A claim is one statement.
    assert waits and set(waits) == {loop.IDLE_SECONDS}, waits
    assert 1 <= idle <= elapsed / loop.IDLE_SECONDS + 1, statements


def test_a_notification_wakes_an_idle_worker(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the notification the idle worker would look again only after a minute.
    monkeypatch.setattr(loop, "IDLE_SECONDS", 60.0)
    with postgres_queue(settings, tmp_path) as queue, listening_worker(settings, queue.db.url):
        # The worker is in its minute-long wait (listening_worker waited for that).
        job = wait_for(queue, submit(queue, "noop", tasks=3, stages=2), ended, timeout=20)
    assert job.status is JobStatus.SUCCEEDED
