"""Killing processes and stopping the server: jobs are never lost (on SQLite and on PostgreSQL),
and a canceled running job frees its worker within a heartbeat."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.rows import query, running_task, task_attempts
from tests.support.server import ServerProcess


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
            # Run again, not answered from the undisturbed run's outputs.
            job = client.submit("resize", key=key, params=params, cache=False)
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


# SIGTERM on both databases; Ctrl-C takes the same path once it is caught, so SQLite will do.
@pytest.mark.parametrize(
    ("backend", "signum"),
    [("sqlite", signal.SIGTERM), ("postgresql", signal.SIGTERM), ("sqlite", signal.SIGINT)],
)
def test_stopping_the_server_lets_running_tasks_finish(
    tmp_path: Path, backend: str, signum: int
) -> None:
    with fresh_database(backend, tmp_path / "db") as url:
        server = ServerProcess(tmp_path / "home", workers=1, database_url=url).start()
        with server.client() as client:
            key = client.upload(images.photo(tmp_path / "p.jpg", 32, 32))["key"]
            job = client.submit("test_sleep", key=key, params={"seconds": 2})
            running_task(url, job["id"])
        assert server.stop(signum) == 0, server.log()
        [(status,)] = query(url, "SELECT status FROM jobs WHERE id = :id", id=job["id"])
    assert status == "succeeded", server.log()


def test_cancel_a_running_job_frees_its_worker(server: ServerProcess, photo: Path) -> None:
    with server.tenant() as client:
        key = client.upload(photo)["key"]
        job = client.submit("test_sleep", key=key, params={"seconds": 60})
        deadline = time.monotonic() + 20
        while client.job(job["id"])["status"] != "running":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.05)
        canceled = client.cancel(job["id"])
        assert canceled["status"] == "canceled" and canceled["error"]["code"] == "canceled"
        assert client.cancel(job["id"])["status"] == "canceled"  # cancelling again is harmless
        # Both workers are free again within a heartbeat, long before the 60 s task would end
        # (30 s: room for a fresh task process on a loaded machine, half the task's time).
        quick = [client.submit("noop", key=key)["id"] for _ in range(4)]
        assert all(client.wait(job_id, timeout=30)["status"] == "succeeded" for job_id in quick)
