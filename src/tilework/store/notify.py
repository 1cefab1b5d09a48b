"""Waking idle workers when tasks arrive: PostgreSQL LISTEN/NOTIFY, or plain polling.

The queue sends ``NOTIFY tilework_tasks`` in every transaction that makes a task claimable now;
PostgreSQL delivers it at commit. One listening connection per process wakes all of its worker
threads, which otherwise look for due tasks (retries, expired leases) once per ``IDLE_SECONDS``.
"""

from __future__ import annotations

import threading
from typing import Protocol

import psycopg
import structlog

from tilework.store.database import driver_url

log = structlog.get_logger("tilework.notify")

CHANNEL = "tilework_tasks"
IDLE_SECONDS = 1.0  # an idle worker's claim rate when notifications wake it: about one a second
RECONNECT_MAX_SECONDS = 5.0


class TaskSignal(Protocol):
    """What an idle worker waits on."""

    @property
    def listening(self) -> bool:
        """Whether ``wait`` returns early when tasks arrive (else only when woken)."""
        ...

    def mark(self) -> int:
        """A token for now: ``wait(timeout, since=token)`` returns at once if a wake came
        after it. Taken before looking for work, it keeps a wake that arrives while the worker
        looks (tasks committed, a stop) from being lost."""
        ...

    def wait(self, timeout: float, since: int | None = None) -> None: ...

    def wake(self) -> None:
        """End every current ``wait`` (tasks arrived, or the workers are stopping)."""
        ...

    def close(self) -> None: ...


class Polling:
    """No notifications (SQLite): the worker polls with backoff; only ``wake`` cuts a wait short."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._generation = 0

    @property
    def listening(self) -> bool:
        return False

    def mark(self) -> int:
        with self._changed:
            return self._generation

    def wait(self, timeout: float, since: int | None = None) -> None:
        with self._changed:
            seen = self._generation if since is None else since
            self._changed.wait_for(lambda: self._generation != seen, timeout)

    def wake(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def close(self) -> None:
        self.wake()


class PostgresListener(Polling):
    """LISTEN on a connection of its own, in a thread; every waiter wakes on each notification.

    The connection is a plain session (a transaction-mode pooler cannot hold a LISTEN), so it
    may name the database directly while the queue's connections go through the pooler.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        parsed = driver_url(url).set(drivername="postgresql")
        self._conninfo = parsed.render_as_string(hide_password=False)
        self._connected = False
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="task-listener", daemon=True)
        self._thread.start()

    @property
    def listening(self) -> bool:
        return self._connected

    def close(self) -> None:
        self._closing.set()
        self.wake()
        self._thread.join(IDLE_SECONDS * 2)

    def _listen(self) -> None:
        backoff = 0.1
        while not self._closing.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._connected = True
                    backoff = 0.1
                    # Tasks may have arrived while we were not listening: look once.
                    self.wake()
                    while not self._closing.is_set():
                        for _ in conn.notifies(timeout=IDLE_SECONDS, stop_after=1):
                            self.wake()
            except psycopg.Error as exc:
                if self._connected:
                    log.warning("listen_lost", error=str(exc).strip()[:300])
            self._connected = False
            self._closing.wait(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX_SECONDS)


def task_signal(database_url: str, listen_url: str = "") -> TaskSignal:
    if driver_url(database_url).get_backend_name() == "postgresql":
        return PostgresListener(listen_url or database_url)
    return Polling()
