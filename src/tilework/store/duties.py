"""Work one host does at a time for all of them (the retention sweep), taken in turns through
the shared lease mechanism (``store.leasing``): a row per duty, due at ``next_run_at`` or when
the host that held it let its lease lapse."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from tilework.store.database import Database
from tilework.store.leasing import Leased
from tilework.store.schema import duty_leases

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
