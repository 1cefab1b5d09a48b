"""Killing processes, filling the queue, stopping the server: jobs are never lost (on SQLite
and on PostgreSQL)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests import images
from tests.server import ServerProcess
from tilework.store.database import Database


def query(url: str, sql: str, **params: object) -> list[sa.Row[Any]]:
    """Rows read from the job database itself, behind the API's back."""
    database = Database(url)
    try:
        with database.read() as conn:
            return list(conn.execute(sa.text(sql), params))
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


def test_kill_9_of_a_busy_worker_loses_nothing(tmp_path: Path, database_url: str) -> None:
    server = ServerProcess(
        tmp_path / "home", workers=0, lease_seconds=2, database_url=database_url
    ).start()
    first = server.worker().wait_started()
    second = None
    try:
        with server.client() as client:
            key = client.upload(images.photo(tmp_path / "big.png", 4000, 4000))["key"]
            params = {"width": 3900, "format": "png"}
            undisturbed = client.wait(
                client.submit("resize", key=key, params=params)["id"], timeout=120
            )
            job = client.submit("resize", key=key, params=params)
            task_id, pid = running_task(database_url, job["id"])
            assert pid == first.process.pid
            os.kill(pid, signal.SIGKILL)
            second = server.worker()
            done = client.wait(job["id"], timeout=120)
    finally:
        first.stop()
        assert second is None or second.stop() == 0, server.log()
        assert server.stop() == 0, server.log()
    assert undisturbed["status"] == done["status"] == "succeeded", server.log()
    assert task_attempts(database_url, task_id) == 2, "the kill did not interrupt the task"
    assert done["outputs"][0]["sha256"] == undisturbed["outputs"][0]["sha256"]
    assert "tasks_recovered" in server.log()


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path, database_url: str) -> None:
    server = ServerProcess(
        tmp_path / "home", workers=0, max_queued=3, database_url=database_url
    ).start()
    try:
        with server.client() as client:
            key = client.upload(images.photo(tmp_path / "p.jpg", 32, 32))["key"]
            accepted = [client.submit("noop", key=key, params={"tasks": 1}) for _ in range(3)]
            refused = server.http.post(
                f"{server.url}/v1/jobs", json={"operation": "noop", "input": {"key": key}}
            )
            client.cancel(accepted[0]["id"])
            after_cancel = server.http.post(
                f"{server.url}/v1/jobs", json={"operation": "noop", "input": {"key": key}}
            )
    finally:
        server.stop()
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "queue_full"
    assert int(refused.headers["Retry-After"]) > 0
    assert after_cancel.status_code == 201


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_server_lets_running_tasks_finish(
    tmp_path: Path, database_url: str, signum: int
) -> None:
    server = ServerProcess(tmp_path / "home", workers=1, database_url=database_url).start()
    with server.client() as client:
        key = client.upload(images.photo(tmp_path / "p.jpg", 32, 32))["key"]
        job = client.submit("test_sleep", key=key, params={"seconds": 2})
        running_task(database_url, job["id"])
    assert server.stop(signum) == 0, server.log()
    [(status,)] = query(database_url, "SELECT status FROM jobs WHERE id = :id", id=job["id"])
    assert status == "succeeded", server.log()
