"""Behind a transaction-mode pooler (PgBouncer), as the README promises: the queue's statements
go through the pooler without server-side prepared statements, and LISTEN goes straight to
PostgreSQL through ``TILEWORK_DATABASE_LISTEN_URL``."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from tests.support import images
from tests.support.databases import fresh_database
from tests.support.pgbouncer import pgbouncer
from tests.support.server import ServerProcess
from tilework.client import ApiError, Client

JOBS = 10
POOL_SIZE = 2  # server connections for the API's and both workers' many client connections


def test_jobs_run_through_a_transaction_pooler_with_listen_direct(tmp_path: Path) -> None:
    with (
        fresh_database("postgresql", tmp_path / "db") as direct,
        pgbouncer(direct, tmp_path / "pgbouncer", pool_size=POOL_SIZE) as pooler,
    ):
        server = ServerProcess(
            tmp_path / "home",
            workers=2,
            database_url=pooler.url,  # migrations at start, the API, the workers' queue
            database_listen_url=direct,
        ).start()
        try:
            with server.client() as client:
                key = client.upload(images.photo(tmp_path / "p.jpg", 64, 48))["key"]
                with ThreadPoolExecutor(JOBS) as threads:
                    statuses = list(threads.map(lambda _: resized(client, key), range(JOBS)))
            clients = pooler.rows("CLIENTS")
            servers = pooler.rows("SERVERS")
            stats = pooler.rows("STATS")[0]
            listening = listeners(direct)
        finally:
            stopped = server.stop()
    log = server.log()
    # The log first: it names the cause (a prepared statement the pooler lost, say).
    problems = troubles(log)
    assert not problems, "\n".join(problems[:20])
    assert statuses == ["succeeded"] * JOBS, log
    assert stopped == 0, log
    # The pooler carried the work: many transactions, and more clients than the server
    # connections they took turns on.
    assert stats["total_xact_count"] > JOBS * 3, stats
    assert len(servers) <= POOL_SIZE < len(clients), (servers, clients)
    # The one LISTEN is a direct session, not one of the pooler's server connections.
    pooled_ports = {row["local_port"] for row in servers}
    assert len(listening) == 1 and not listening & pooled_ports, (listening, pooled_ports)


def resized(client: Client, key: str) -> str:
    """Submit a small resize and follow it to its end: its final status, or the error that
    stopped it (whose cause is in the server's log, which the test shows)."""
    try:
        job = client.submit("resize", key=key, params={"width": 16})
        return str(client.wait(job["id"], timeout=60)["status"])
    except (httpx.HTTPError, ApiError, TimeoutError) as exc:
        return f"{exc!r}"[:200]


def listeners(url: str) -> set[int]:
    """The client ports of the sessions LISTENing on ``url``'s database."""
    with psycopg.connect(url) as db:
        rows = db.execute(
            "SELECT client_port FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
        ).fetchall()
    return {int(port) for (port,) in rows}


def troubles(log: str) -> list[str]:
    """The log's warnings, errors and tracebacks: a statement the pooler broke is retried (a
    claim, a stale pooled connection), so a job may still succeed, but never quietly."""
    pattern = re.compile(r"level='(warning|error|critical)'|^(WARNING|ERROR|CRITICAL) |Traceback")
    return [line for line in log.splitlines() if pattern.search(line)]
