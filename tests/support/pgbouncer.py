"""PgBouncer in transaction mode in front of one test database, as a subprocess on a free
127.0.0.1 port with a config file of its own (the Debian package's system service, if any, is
never used: ``make test-packages`` installs the package and stops it).

Transaction mode is what hosted poolers run (Supabase's on port 6543): a client holds a server
connection only for the length of a transaction, so whatever a session keeps on the server
(prepared statements, LISTEN, session settings) is gone, or someone else's, at the next one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from tests.support.server import free_port

START_SECONDS = 10
ADMIN_DATABASE = "pgbouncer"  # PgBouncer's own console: SHOW POOLS, SHOW STATS, …
# Where Debian installs it: /usr/sbin, which a non-root user's PATH may lack.
BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@dataclass(frozen=True)
class Pooler:
    url: str  # the pooled database, for TILEWORK_DATABASE_URL
    admin_url: str  # the console
    database: str  # the pooled database's name in the console's rows

    def show(self, what: str) -> list[dict[str, Any]]:
        """The rows of ``SHOW <what>`` on the console, as dicts by column name."""
        with (
            psycopg.connect(self.admin_url, autocommit=True) as console,
            console.execute(f"SHOW {what}") as cursor,
        ):
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def rows(self, what: str) -> list[dict[str, Any]]:
        """``SHOW <what>`` rows for the pooled database only."""
        return [row for row in self.show(what) if row["database"] == self.database]


@contextmanager
def pgbouncer(database_url: str, folder: Path, pool_size: int = 2) -> Iterator[Pooler]:
    """Yield a transaction-mode PgBouncer in front of ``database_url`` (PostgreSQL, trust auth),
    sharing at most ``pool_size`` server connections among all its clients."""
    if not os.access(BINARY, os.X_OK):
        # The tests fail, not skip, without their programs (as without PostgreSQL).
        raise RuntimeError("pgbouncer is not installed: run make test-packages (as root)")
    target = make_url(database_url)
    name = target.database or "postgres"
    user = target.username or "postgres"
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "pgbouncer.ini"
    config.write_text(
        "\n".join(
            [
                "[databases]",
                f"{name} = host={target.host or '127.0.0.1'} port={target.port or 5432} "
                f"dbname={name} user={user}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",  # TCP only: no socket file to place or clean up
                "pool_mode = transaction",
                # Every client of the database shares these few server connections, so a
                # session's server-side state really does land on another client's transactions.
                f"default_pool_size = {pool_size}",
                # No password anywhere: the server trusts loopback, and "any" logs every client
                # in as the user the database entry names (the console's as its own admin), so
                # neither an auth_file nor admin_users is needed.
                "auth_type = any",
                # SHOW STATS's averages follow this period (its totals are counted live).
                "stats_period = 1",
                "",
            ]
        )
    )
    command = [BINARY, str(config)]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; -u drops to nobody (on every Debian system) once
        # the config is read, and it reads nothing afterwards: no auth, log, pid or socket file.
        command[1:1] = ["-u", "nobody"]
    log_path = folder / "pgbouncer.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    pooled = target.set(host="127.0.0.1", port=port)
    pooler = Pooler(
        url=pooled.render_as_string(hide_password=False),
        admin_url=pooled.set(database=ADMIN_DATABASE).render_as_string(hide_password=False),
        database=name,
    )
    try:
        _wait_accepting(pooler, process, log_path)
        yield pooler
    finally:
        if process.poll() is None:
            # SIGTERM: immediate shutdown (SIGINT would wait for clients to leave).
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_accepting(pooler: Pooler, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited at start:\n{log_path.read_text()}")
        try:
            pooler.show("VERSION")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"pgbouncer did not start:\n{log_path.read_text()}") from None
            time.sleep(0.05)
