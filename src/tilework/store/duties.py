"""Work one host does at a time for all of them (the retention sweep, deadlines), taken in turns
through the shared lease mechanism (``store.leasing``): a row per duty, due at ``next_run_at`` or
when the host that held it let its lease lapse."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
import structlog

from tilework.core.ids import holder_id
from tilework.store.database import Database
from tilework.store.leasing import Leased
from tilework.store.schema import duty_leases

log = structlog.get_logger("tilework.duties")

IDLE, HELD = "idle", "held"


def _leased(name: str) -> Leased:
    c: Any = duty_leases.c
    return Leased(
        duty_leases,
        held=HELD,
        due=lambda now: sa.and_(
            c.id == name,
            sa.or_(
                sa.and_(c.status == IDLE, c.next_run_at <= now),
                sa.and_(c.status == HELD, c.lease_until < now),
            ),
        ),
        order=lambda: [c.next_run_at],
    )


def take_turn(database: Database, name: str, holder: str, lease_seconds: float) -> bool:
    """Whether ``holder`` now holds the duty ``name`` (due, and nobody else holds it)."""
    now = time.time()
    leased = _leased(name)
    with database.read() as conn:  # most polls find it not due: no write lock for them
        due = leased.anything_due(conn, now)
        known = (
            due or conn.execute(sa.select(duty_leases.c.id).where(duty_leases.c.id == name)).first()
        )
    if not known:
        try:
            with database.write() as conn:
                conn.execute(duty_leases.insert().values(id=name, status=IDLE, next_run_at=now))
        except sa.exc.IntegrityError:
            pass  # another host made it first
    elif not due:
        return False
    with database.write() as conn:
        claimed = leased.claim(
            conn,
            database.dialect,
            now=now,
            limit=1,
            holder=holder,
            lease_seconds=lease_seconds,
        )
    return bool(claimed)


def extend_turn(database: Database, name: str, holder: str, lease_seconds: float) -> bool:
    """Keep the duty a while longer; False: the lease lapsed and another host may have it."""
    with database.write() as conn:
        return bool(_leased(name).extend(conn, [name], holder, time.time() + lease_seconds))


def end_turn(database: Database, name: str, holder: str, next_run_at: float) -> None:
    with database.write() as conn:
        conn.execute(
            duty_leases.update()
            .where(_leased(name).held_by([name], holder))
            .values(status=IDLE, worker_id=None, lease_until=None, next_run_at=next_run_at)
        )


class InTurns:
    """A duty of every worker host (``worker.pool.Duty``) that one host at a time does for all,
    every ``every`` seconds: each host's thread asks every ``poll`` seconds whether it is due,
    and the one whose claim wins runs ``work``. A host that dies in its turn loses it when its
    lease lapses; a long turn keeps it with ``extend``."""

    def __init__(
        self, database: Database, name: str, every: float, poll: float, lease_seconds: float
    ) -> None:
        self.database = database
        self.name = name
        self.every = every
        self.poll = poll
        self.lease_seconds = lease_seconds
        self.holder = holder_id(name)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def work(self) -> None:
        raise NotImplementedError

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.lease_seconds)

    def _run(self) -> None:
        while not self._stopping.wait(self.poll):
            try:
                self.turn()
            except Exception as exc:  # the next turn tries again; the host goes on working
                log.error("duty_failed", duty=self.name, error=repr(exc), exc_info=exc)

    def turn(self) -> bool:
        """Do the work if it is this host's turn; whether it was."""
        if not take_turn(self.database, self.name, self.holder, self.lease_seconds):
            return False
        try:
            self.work()
        finally:
            end_turn(self.database, self.name, self.holder, time.time() + self.every)
        return True

    def extend(self) -> bool:
        """Keep the turn another lease; False: it lapsed, and another host may have it."""
        return extend_turn(self.database, self.name, self.holder, self.lease_seconds)
