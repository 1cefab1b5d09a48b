"""Worker hosts as rows (``schema.worker_hosts``): each ``tilework worker`` process records
itself when it starts and keeps its row alive with a heartbeat, as a lease is kept
(``lease_until``); one whose heartbeat stopped is gone, and is forgotten a day later."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from tilework.core.jobs import TaskStatus
from tilework.store.database import Database
from tilework.store.schema import tasks, worker_hosts

FORGET_SECONDS = 86_400.0  # how long a gone host is still listed


@dataclass(frozen=True)
class WorkerHost:
    id: str  # host:pid, the prefix of its workers' lease holders (``core.ids.holder_id``)
    host: str
    pid: int
    version: str
    device: str
    workers: int
    started_at: float
    heartbeat_at: float
    lease_until: float
    stopped_at: float | None
    tasks_running: int

    def alive(self, now: float) -> bool:
        return self.stopped_at is None and self.lease_until > now


def join(database: Database, host: WorkerHost) -> None:
    """Record a host that starts (its id is new: a pid is not reused while a row lives)."""
    with database.write() as conn:
        conn.execute(worker_hosts.delete().where(worker_hosts.c.id == host.id))
        conn.execute(worker_hosts.insert().values(**host.__dict__))


def beat(database: Database, host_id: str, lease_seconds: float) -> None:
    """The host is alive: its lease renewed, its running tasks counted."""
    now = time.time()
    running = (
        sa.select(sa.func.count())
        .where(tasks.c.status == TaskStatus.RUNNING.value)
        .where(tasks.c.worker_id.startswith(f"{host_id}:", autoescape=True))
        .scalar_subquery()
    )
    with database.write() as conn:
        conn.execute(
            worker_hosts.update()
            .where(worker_hosts.c.id == host_id)
            .values(heartbeat_at=now, lease_until=now + lease_seconds, tasks_running=running)
        )


def leave(database: Database, host_id: str) -> None:
    now = time.time()
    with database.write() as conn:
        conn.execute(
            worker_hosts.update()
            .where(worker_hosts.c.id == host_id)
            .values(stopped_at=now, lease_until=now, tasks_running=0)
        )


def listed(database: Database) -> list[WorkerHost]:
    """Every host alive or gone within ``FORGET_SECONDS``, newest first; older ones go."""
    now = time.time()
    with database.write() as conn:
        conn.execute(worker_hosts.delete().where(worker_hosts.c.lease_until < now - FORGET_SECONDS))
        rows = conn.execute(sa.select(worker_hosts).order_by(worker_hosts.c.started_at.desc()))
        return [WorkerHost(**row._mapping) for row in rows]
