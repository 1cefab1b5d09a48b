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


@contextmanager
def listening_worker(settings: Settings, url: str) -> Iterator[Counter[str]]:
    """A worker on its own connections with a LISTEN; yields a count of its statements."""
    database = Database(url)
    statements: Counter[str] = Counter()

    def count(*args: Any) -> None:
        statements[args[2].split()[0]] += 1

    event.listen(database.engine, "before_cursor_execute", count)
    queue = SqlQueue(database, Registry.load(settings), queue_policy(settings))
    signal = PostgresListener(url)
    worker = Worker(settings, queue, Executor(settings), signal=signal)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not signal.listening and time.monotonic() < deadline:
            time.sleep(0.05)
        assert signal.listening
        yield statements
    finally:
        worker.stop()
        worker.stop()
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"
        signal.close()
        database.dispose()


def test_an_idle_worker_queries_about_once_a_second(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"lease_seconds": 30})
    with (
        postgres_queue(settings, tmp_path) as queue,
        listening_worker(settings, queue.db.url) as statements,
    ):
        time.sleep(1.5)  # past start-up: the first sweep and claims
        before = sum(statements.values())
        time.sleep(4)
        idle = sum(statements.values()) - before
    assert 2 <= idle <= 6, statements


def test_a_notification_wakes_an_idle_worker(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the notification the worker would look again only after a minute.
    monkeypatch.setattr(loop, "IDLE_SECONDS", 60.0)
    with postgres_queue(settings, tmp_path) as queue, listening_worker(settings, queue.db.url):
        time.sleep(0.5)
        job = wait_for(queue, submit(queue, "noop", tasks=3, stages=2), ended, timeout=20)
    assert job.status is JobStatus.SUCCEEDED
