"""One lease mechanism for every kind of background work kept as rows (tasks, webhook
deliveries): claim due rows for a holder until a deadline, extend while working, and find
the rows whose holder stopped.

A claim is one ``UPDATE … WHERE id IN (due rows) RETURNING``, run in the caller's write
transaction; on PostgreSQL the due rows are taken ``FOR UPDATE SKIP LOCKED``, so claimers at
once take different rows. A holder that dies loses only its lease: once it lapses, the row is
due again (or, for tasks, settled by the recovery sweep, which counts the attempt).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tilework.store.dialect import Dialect

Condition = sa.ColumnElement[bool]


@dataclass(frozen=True)
class Leased:
    """A table whose rows are leased: ``status`` is ``held`` while ``holder`` owns the row
    until ``lease_until``."""

    table: sa.Table
    held: str  # the status of a row under lease
    due: Callable[[float], Condition]  # rows a claim at ``now`` may take
    order: Callable[[], Sequence[sa.ColumnElement[Any]]]  # which due rows go first

    @property
    def _c(self) -> Any:
        return self.table.c

    def anything_due(self, conn: sa.Connection, now: float) -> bool:
        """A cheap read, for pollers: most polls find nothing and need not take a write lock."""
        query = sa.select(self._c.id).where(self.due(now)).limit(1)
        return conn.execute(query).first() is not None

    def claim(
        self,
        conn: sa.Connection,
        dialect: Dialect,
        *,
        now: float,
        limit: int,
        holder: str,
        lease_seconds: float,
        among: Condition | None = None,
        order: Sequence[sa.ColumnElement[Any]] | None = None,
        **values: Any,
    ) -> list[sa.Row[Any]]:
        """Lease up to ``limit`` due rows to ``holder``, setting ``values`` besides; the rows
        as claimed. ``among`` narrows the due rows, ``order`` replaces the table's order."""
        where = self.due(now) if among is None else sa.and_(self.due(now), among)
        due = dialect.claimable(
            sa.select(self._c.id)
            .where(where)
            .order_by(*(order if order is not None else self.order()))
            .limit(limit)
        )
        claim = (
            self.table.update()
            .where(self._c.id.in_(due.scalar_subquery()))
            .values(
                status=self.held,
                worker_id=holder,
                lease_until=now + lease_seconds,
                **values,
            )
            .returning(*self.table.c)
        )
        return list(conn.execute(claim))

    def held_by(self, ids: Iterable[Any], holder: str) -> Condition:
        """Those of ``ids`` still under ``holder``'s lease (not lost, not ended meanwhile)."""
        return sa.and_(
            self._c.id.in_(list(ids)), self._c.status == self.held, self._c.worker_id == holder
        )

    def extend(
        self, conn: sa.Connection, ids: Iterable[Any], holder: str, until: float
    ) -> set[Any]:
        """Move the leases ``holder`` still has on ``ids`` to ``until``; the ids it has."""
        rows = conn.execute(
            self.table.update()
            .where(self.held_by(ids, holder))
            .values(lease_until=until)
            .returning(self._c.id)
        )
        return {row.id for row in rows}

    def expired(self, now: float) -> Condition:
        """Rows whose holder let the lease lapse."""
        return sa.and_(self._c.status == self.held, self._c.lease_until < now)
