"""Faults on PostgreSQL: processes killed mid-run, the database going away and coming back."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.loopback import LOOPBACK
from tests.support.receiver import receiving
from tests.support.server import ServerProcess
from tests.support.tcpproxy import TcpProxy


def count(url: str, table: str, where: str) -> int:
    """Rows of ``table`` matching ``where``, read straight from the database."""
    with psycopg.connect(url) as db:
        row = db.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


def running_tasks(url: str) -> int:
    return count(url, "tasks", "status = 'running'")


def wait_until(check: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_kill_9_of_the_api_and_a_worker_loses_no_job(tmp_path: Path) -> None:
    """Nor any webhook: the receiver refuses (503) until the hosts are killed, so messages are
    pending then; the new hosts send every one of them."""
    accepting = threading.Event()

    def answer(_path: str, _seen: int) -> tuple[int, dict[str, str]]:
        return (200, {}) if accepting.is_set() else (503, {})

    with fresh_database("postgresql", tmp_path) as url, receiving(answer) as receiver:
        settings = {
            "workers": 0,
            "lease_seconds": 2,
            "database_url": url,
            "fetch_allow_hosts": LOOPBACK,  # the receiver is on loopback
            "webhook_retry_seconds": [0.5] * 60,
        }
        api = ServerProcess(tmp_path / "api", **settings).start()
        worker = api.worker()
        spare = None
        try:
            with api.client() as client:
                key = client.upload(images.photo(tmp_path / "p.png", 64, 64))["key"]
                params = {"tasks": 4, "stages": 2, "sleep_ms": 150}
                hook = {"url": f"{receiver.url}/hook", "events": ["succeeded"]}
                ids = [
                    client.submit("noop", key=key, params=params, webhook=hook)["id"]
                    for _ in range(6)
                ]
            wait_until(lambda: refused_attempts(url) > 0)  # a job done, its message pending
            api.process.kill()  # type: ignore[union-attr]
            os.kill(worker.process.pid, signal.SIGKILL)
            api.process.wait()  # type: ignore[union-attr]
            accepting.set()
            # A new API (same database, same storage) and a new worker host pick up the work.
            api = ServerProcess(tmp_path / "api", **settings).start()
            spare = api.worker(workers=2)  # the whole backlog is left to it
            with api.client() as client:
                finished = [client.wait(job_id, timeout=120) for job_id in ids]
            wait_until(lambda: delivered(url) == len(ids))
        finally:
            worker.stop()
            assert spare is None or spare.stop() == 0, api.log()
            assert api.stop() == 0, api.log()
    assert [job["status"] for job in finished] == ["succeeded"] * 6, api.log()
    assert "tasks_recovered" in api.log()
    # Each job's message reached the receiver (refused before the kill, sent after it).
    assert {json.loads(r.body)["data"]["id"] for r in receiver.requests} == set(ids)


def refused_attempts(url: str) -> int:
    return count(url, "webhook_deliveries", "status = 'pending' AND attempts > 0")


def delivered(url: str) -> int:
    return count(url, "webhook_deliveries", "status = 'delivered'")


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert "Traceback" not in response.text
    return response.status_code, response.json()["error"]["code"]


def test_while_the_database_is_away_the_api_answers_503_and_workers_wait(
    tmp_path: Path,
) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        target = make_url(url)
        proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432).start()
        proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
        api = ServerProcess(
            tmp_path / "api", workers=0, lease_seconds=2, database_url=proxied
        ).start()
        worker = api.worker()
        try:
            with api.client() as client:
                key = client.upload(images.photo(tmp_path / "p.png", 64, 64))["key"]
                before = client.submit("noop", key=key)
                client.wait(before["id"], timeout=60)
                proxy.cut()
                body = {"operation": "noop", "input": {"key": key}}
                assert error_of(api.http.post(f"{api.url}/v1/jobs", json=body)) == (
                    503,
                    "unavailable",
                )
                assert error_of(api.http.get(f"{api.url}/v1/jobs/{before['id']}")) == (
                    503,
                    "unavailable",
                )
                assert error_of(api.http.get(f"{api.url}/v1/jobs")) == (503, "unavailable")
                assert api.http.get(f"{api.url}/readyz").status_code == 503
                assert api.http.get(f"{api.url}/healthz").status_code == 200  # alive, not ready
                # The worker host meets the outage and backs off (it says so in the log; the
                # API's webhook sender says webhook_claim_failed, which is not this).
                wait_until(lambda: "event='claim_failed'" in api.log())
                proxy.start()
                wait_until(lambda: api.http.get(f"{api.url}/readyz").status_code == 200)
                after = client.wait(client.submit("noop", key=key)["id"], timeout=60)
        finally:
            stopped = worker.stop()
            assert api.stop() == 0, api.log()
            proxy.cut()
    assert after["status"] == "succeeded", api.log()
    assert stopped == 0, api.log()
    assert "event='claim_failed'" in api.log()
