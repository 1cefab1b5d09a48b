"""Rows read from a server's job database itself, behind its API's back: what the acceptance
tests check the API's answers against."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tilework.store.database import Database


def query(url: str, sql: str, **params: object) -> list[sa.Row[Any]]:
    """Rows read from the job database itself, behind the API's back."""
    database = Database(url)
    try:
        with database.read() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        database.dispose()


def execute(url: str, sql: str, **params: object) -> None:
    """A change written to the job database behind the API's back (an expiry brought forward)."""
    database = Database(url)
    try:
        with database.write() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        database.dispose()


def running_task(
    url: str, job_id: str, timeout: float = 30, kind: str = "%", pid: int | None = None
) -> tuple[int, int]:
    """(task id, pid of the worker holding it).

    A worker id is ``host:pid:index``; with ``pid``, only a task that process holds counts.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(
            url,
            "SELECT id, worker_id FROM tasks"
            " WHERE job_id = :job AND status = 'running' AND kind LIKE :kind",
            job=job_id,
            kind=kind,
        )
        for task_id, worker_id in rows:
            holder = int(worker_id.split(":")[1])
            if pid is None or holder == pid:
                return task_id, holder
        time.sleep(0.01)
    raise AssertionError("the task never started")


def task_attempts(url: str, task_id: int) -> int:
    [(attempts,)] = query(url, "SELECT attempts FROM tasks WHERE id = :id", id=task_id)
    return int(attempts)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def swept_to_the_floor(url: str, database: Path, jobs_folder: Path) -> tuple[int, int, int]:
    """Once the sweeper has deleted every ended job (or 30 s have passed): the rows left in
    the job tables, the SQLite database's size on disk (its file and write-ahead log), the
    bytes left under the tenant's jobs folder."""
    deadline = time.monotonic() + 30
    while True:
        (row,) = query(
            url,
            "SELECT (SELECT COUNT(*) FROM jobs) + (SELECT COUNT(*) FROM tasks)"
            " + (SELECT COUNT(*) FROM job_events) + (SELECT COUNT(*) FROM webhook_deliveries)"
            " AS n",
        )
        if row.n == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    stored = folder_bytes(jobs_folder) if jobs_folder.exists() else 0
    wal = database.with_name(database.name + "-wal")
    size = database.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return row.n, size, stored
