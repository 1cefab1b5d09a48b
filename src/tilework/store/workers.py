"""Worker hosts as rows (``schema.worker_hosts``), each leased to itself through the shared
lease mechanism (``store.leasing``): a ``tilework worker`` process records itself when it
starts and extends its lease with every heartbeat; one whose lease lapsed is gone, one that
stopped says so, and either is forgotten a day later."""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import sqlalchemy as sa

from tilework.core.jobs import TaskStatus
from tilework.store.database import Database
from tilework.store.leasing import Leased
from tilework.store.schema import tasks, worker_hosts

FORGET_SECONDS = 86_400.0  # how long a gone host is still listed
HELD, STOPPED = "held", "stopped"

# Never claimed by another host: a host's row is its own from the start, only extended.
HOSTS = Leased(worker_hosts, held=HELD, due=lambda now: sa.false(), order=lambda: [])


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


_FIELDS = [field.name for field in fields(WorkerHost)]


def join(database: Database, host: WorkerHost) -> None:
    """Record a host that starts, holding the lease on its row (its id is new: a pid is not
    reused while a row lives)."""
    with database.write() as conn:
        conn.execute(worker_hosts.delete().where(worker_hosts.c.id == host.id))
        conn.execute(worker_hosts.insert().values(**host.__dict__, status=HELD, worker_id=host.id))


def beat(database: Database, host_id: str, lease_seconds: float) -> bool:
    """The host is alive: its lease extended, its running tasks counted. False: it had lost
    its lease (it was taken for gone) and has joined again."""
    now = time.time()
    running = (
        sa.select(sa.func.count())
        .where(tasks.c.status == TaskStatus.RUNNING.value)
        .where(tasks.c.worker_id.startswith(f"{host_id}:", autoescape=True))
        .scalar_subquery()
    )
    with database.write() as conn:
        kept = HOSTS.extend(conn, [host_id], host_id, now + lease_seconds)
        conn.execute(
            worker_hosts.update()
            .where(HOSTS.held_by([host_id], host_id))
            .values(heartbeat_at=now, tasks_running=running)
        )
    return bool(kept)


def leave(database: Database, host_id: str) -> None:
    now = time.time()
    with database.write() as conn:
        conn.execute(
            worker_hosts.update()
            .where(worker_hosts.c.id == host_id)
            .values(status=STOPPED, stopped_at=now, lease_until=now, tasks_running=0)
        )


def listed(database: Database) -> list[WorkerHost]:
    """Every host alive or gone within ``FORGET_SECONDS``, newest first; older ones go."""
    now = time.time()
    with database.write() as conn:
        conn.execute(worker_hosts.delete().where(worker_hosts.c.lease_until < now - FORGET_SECONDS))
        rows = conn.execute(sa.select(worker_hosts).order_by(worker_hosts.c.started_at.desc()))
        return [WorkerHost(**{name: row._mapping[name] for name in _FIELDS}) for row in rows]
