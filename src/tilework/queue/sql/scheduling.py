"""Which tasks a claim takes when several tenants wait: fair share between tenants, then each
tenant's own work by priority, within the concurrency limits per tenant and per operation.

A claim first reads who runs what (the running tasks, a few hundred rows at most) and which
tenants have queued tasks (one index probe per tenant), then serves the tenants in order of
their running tasks per unit of weight, fewest first, each up to its even part of the batch.
So a tenant's one-task job submitted behind another's thousand tiles is claimed by the next
worker that asks, not after the thousand.

With limits configured, claims take turns (``Dialect.lock_for_limits``): each counts what
runs and claims within the room it saw, so no two hosts fill the same room.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tilework.core.jobs import TaskStatus
from tilework.queue.policy import QueuePolicy
from tilework.store.dialect import Dialect
from tilework.store.leasing import Leased
from tilework.store.schema import tasks

# A tenant's own tasks: higher priority (lower rank) first, then oldest first: the order of
# the claim index.
TENANT_ORDER = (tasks.c.rank, tasks.c.id)
_QUEUED = TaskStatus.QUEUED.value
_RUNNING = TaskStatus.RUNNING.value


@dataclass
class Running:
    """What runs now, by tenant, by operation, and by operation on the claiming host."""

    tenants: Counter[str]
    operations: Counter[str]
    here: Counter[str]

    def add(self, tenant: str, operation: str) -> None:
        """A task this claim takes (on its own host)."""
        self.tenants[tenant] += 1
        self.operations[operation] += 1
        self.here[operation] += 1

    def operation_room(self, policy: QueuePolicy, operation: str) -> int:
        return min(
            limit_room(policy.operation_limits.get(operation), self.operations[operation]),
            limit_room(policy.operation_limits_per_host.get(operation), self.here[operation]),
        )


def running(conn: sa.Connection, host: str) -> Running:
    """``host``: the claiming host, as the first part of a holder's id (``core.ids``)."""
    rows = conn.execute(
        sa.select(tasks.c.tenant, tasks.c.operation, tasks.c.worker_id, sa.func.count())
        .where(tasks.c.status == _RUNNING)
        .group_by(tasks.c.tenant, tasks.c.operation, tasks.c.worker_id)
    ).all()
    found = Running(Counter(), Counter(), Counter())
    for tenant, operation, worker_id, count in rows:
        found.tenants[tenant] += count
        found.operations[operation] += count
        if holder_host(worker_id or "") == host:
            found.here[operation] += count
    return found


def holder_host(holder: str) -> str:
    return holder.split(":", 1)[0]


def waiting_tenants(conn: sa.Connection) -> list[str]:
    """The tenants with queued tasks: a walk over the claim index, one probe per tenant
    (a loose index scan), whatever the number of tasks queued."""
    first = sa.select(sa.func.min(tasks.c.tenant).label("tenant")).where(tasks.c.status == _QUEUED)
    walk = first.cte("waiting", recursive=True)
    later = sa.select(
        sa.select(sa.func.min(tasks.c.tenant))
        .where(tasks.c.status == _QUEUED, tasks.c.tenant > walk.c.tenant)
        .scalar_subquery()
    ).where(walk.c.tenant.is_not(None))
    walk = walk.union_all(later)
    found = conn.execute(sa.select(walk.c.tenant).where(walk.c.tenant.is_not(None)))
    return [row.tenant for row in found]


def claim_fairly(
    conn: sa.Connection,
    dialect: Dialect,
    leased: Leased,
    policy: QueuePolicy,
    *,
    now: float,
    limit: int,
    holder: str,
    lease_seconds: float,
    **values: Any,
) -> list[sa.Row[Any]]:
    if policy.limited:
        dialect.lock_for_limits(conn)
    elif not policy.fair_share:  # first come, first served: every tenant's tasks as one queue
        taken = leased.claim(
            conn,
            dialect,
            now=now,
            limit=limit,
            holder=holder,
            lease_seconds=lease_seconds,
            order=TENANT_ORDER,
            **values,
        )
        return sorted(taken, key=lambda row: (row.rank, row.id))
    tenants = waiting_tenants(conn)
    if len(tenants) > 1 or policy.limited:
        now_running = running(conn, holder_host(holder))
        random.shuffle(tenants)  # equal shares: no tenant is always served first
        tenants.sort(key=lambda tenant: now_running.tenants[tenant] / policy.weight(tenant))
    else:  # one tenant waiting, nothing limited: nothing to weigh, one read less a claim
        now_running = Running(Counter(), Counter(), Counter())
    claimed: list[sa.Row[Any]] = []
    pending = tenants
    while pending and len(claimed) < limit:
        more = []
        quota = math.ceil((limit - len(claimed)) / len(pending))
        for tenant in pending:
            room = min(quota, limit - len(claimed), _tenant_room(policy, now_running, tenant))
            if room <= 0:
                continue
            full = [
                operation
                for operation in policy.limited_operations
                if now_running.operation_room(policy, operation) <= 0
            ]
            among = tasks.c.tenant == tenant
            if full:
                among = sa.and_(among, tasks.c.operation.not_in(full))
            taken = leased.claim(
                conn,
                dialect,
                now=now,
                limit=room,
                holder=holder,
                lease_seconds=lease_seconds,
                among=among,
                order=TENANT_ORDER,
                **values,
            )
            # RETURNING keeps no order: the worker runs its batch in the claim's.
            taken.sort(key=lambda row: (row.rank, row.id))
            taken = _within_operation_limits(conn, policy, now_running, taken)
            claimed.extend(taken)
            if len(taken) == room:  # it may have more: another round if the batch has room
                more.append(tenant)
        pending = more
    return claimed


def _tenant_room(policy: QueuePolicy, now_running: Running, tenant: str) -> int:
    most = policy.tenant_limits.get(tenant)
    return limit_room(most, now_running.tenants[tenant])


def limit_room(most: int | None, running_now: int) -> int:
    return 1 << 30 if most is None else most - running_now


def _within_operation_limits(
    conn: sa.Connection, policy: QueuePolicy, now_running: Running, taken: list[sa.Row[Any]]
) -> list[sa.Row[Any]]:
    """``taken`` less the tasks past an operation's room (the lowest in the claim's order),
    which go back to the queue as they were, in this same transaction; what is kept is
    counted as running."""
    kept: list[sa.Row[Any]] = []
    back: list[int] = []
    for row in taken:
        if now_running.operation_room(policy, row.operation) > 0:
            now_running.add(row.tenant, row.operation)
            kept.append(row)
        else:
            back.append(row.id)
    if back:
        conn.execute(
            tasks.update()
            .where(tasks.c.id.in_(back))
            .values(
                status=_QUEUED,
                worker_id=None,
                lease_until=None,
                started_at=None,
                attempts=tasks.c.attempts - 1,
            )
        )
    return kept
