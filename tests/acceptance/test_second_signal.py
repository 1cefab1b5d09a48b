"""A second SIGTERM or Ctrl-C stops the server at once, where the first drains: the running task
is killed and released to the queue with its attempt unspent, and the next server runs it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.rows import query, running_task, task_attempts
from tests.support.server import ServerProcess

TASK_SECONDS = 60  # how long the task runs, and how long the first signal's drain would wait
STOP_SECONDS = 20  # from the first signal to the exit: a third of the task, a wide contrast


def wait_for_log(server: ServerProcess, event: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while f"event='{event}'" not in server.log():
        assert time.monotonic() < deadline, f"no {event} in the log:\n{server.log()}"
        time.sleep(0.02)


def wait_until_refused(server: ServerProcess, timeout: float) -> None:
    """Until the API stops listening: uvicorn has taken the first signal and is closing, and
    the pool's drain comes only after that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{server.url}/readyz", timeout=1)
        except httpx.TransportError:
            return
        time.sleep(0.01)
    raise AssertionError(f"the API still listens:\n{server.log()}")


@pytest.mark.parametrize(
    ("signum", "after_drain_began"),
    [
        (signal.SIGTERM, True),
        # A quick double Ctrl-C: the second comes while the API is still closing, before the
        # pool has begun its drain and put in its own handler.
        (signal.SIGINT, False),
    ],
    ids=["sigterm", "sigint-while-the-api-closes"],
)
def test_a_second_signal_releases_the_running_task_at_once(
    tmp_path: Path, signum: int, after_drain_began: bool
) -> None:
    with fresh_database("sqlite", tmp_path / "db") as url:
        home = tmp_path / "home"
        server = ServerProcess(home, workers=1, database_url=url, drain_seconds=TASK_SECONDS)
        server.start()
        assert server.process is not None
        with server.client() as client:
            key = client.upload(images.photo(tmp_path / "p.jpg", 32, 32))["key"]
            job = client.submit("test_sleep", key=key, params={"seconds": TASK_SECONDS})
            task_id, _ = running_task(url, job["id"])
        first_signal = time.monotonic()
        server.process.send_signal(signum)
        # Not at once: the kernel merges a signal into one still pending.
        if after_drain_began:
            wait_for_log(server, "pool_draining", STOP_SECONDS)
        else:
            wait_until_refused(server, STOP_SECONDS)
        # ServerProcess.stop kills a server still running at its timeout: -9, not 0.
        code = server.stop(signum, timeout=STOP_SECONDS - (time.monotonic() - first_signal))
        assert code == 0, server.log()
        assert time.monotonic() - first_signal < STOP_SECONDS
        log = server.log()
        assert "event='pool_hurried'" in log
        assert f"event='task_released' job_id='{job['id']}' task_id={task_id}" in log, log

        # Nothing lost: the task is queued again with no attempt spent, the job failed nothing.
        [(task_status, attempts)] = query(
            url, "SELECT status, attempts FROM tasks WHERE id = :id", id=task_id
        )
        [(job_status, error_code)] = query(
            url, "SELECT status, error_code FROM jobs WHERE id = :id", id=job["id"]
        )
        assert (task_status, attempts) == ("queued", 0)
        assert (job_status, error_code) == ("running", None)  # a job never goes back to queued

        # The next server on the same home runs it as its first attempt (no drain: it stops at
        # once and leaves the task queued again).
        after = ServerProcess(home, workers=1, database_url=url, drain_seconds=0).start()
        try:
            assert running_task(url, job["id"])[0] == task_id
            assert task_attempts(url, task_id) == 1
        finally:
            assert after.stop() == 0, after.log()
