"""Webhook deliveries as durable rows: claimed with a lease, attempted, rescheduled or settled.

A delivery row is written with its event (``store.events``); this is the sender's side. A sender
that dies mid-attempt loses only its lease (``store.leasing``): the row is claimed again once the
lease lapses.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from tilework.core.jobs import JsonDict
from tilework.store.counters import add
from tilework.store.database import Database
from tilework.store.events import url_digest
from tilework.store.leasing import Leased
from tilework.store.schema import webhook_deliveries, webhook_endpoints


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # leased to a sender
    DELIVERED = "delivered"  # answered 2xx
    FAILED = "failed"  # out of attempts
    DISABLED = "disabled"  # its endpoint answered 410 Gone


ATTEMPT_OUTCOMES = {
    DeliveryStatus.PENDING: "retried",
    DeliveryStatus.SENDING: "retried",
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.DISABLED: "disabled",
}


@dataclass(frozen=True)
class Delivery:
    id: str
    job_id: str
    event_id: int
    event: str
    url: str
    format: str
    status: DeliveryStatus
    attempts: int
    log: list[JsonDict]
    next_attempt_at: float
    created_at: float
    completed_at: float | None


# Claimed with the same lease code as tasks. A sender that stopped mid-attempt is not waited
# for: once its lease lapses the row is due again, and the attempt it never settled is not
# counted (the receiver may see that message twice; its webhook-id is the same).
DELIVERIES = Leased(
    webhook_deliveries,
    held=DeliveryStatus.SENDING.value,
    due=lambda now: sa.or_(
        sa.and_(
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            webhook_deliveries.c.next_attempt_at <= now,
        ),
        sa.and_(
            webhook_deliveries.c.status == DeliveryStatus.SENDING.value,
            webhook_deliveries.c.lease_until < now,
        ),
    ),
    order=lambda: [webhook_deliveries.c.next_attempt_at],
)


class Deliveries:
    def __init__(self, database: Database) -> None:
        self.db = database

    def claim(self, sender: str, limit: int, lease_seconds: float) -> list[Delivery]:
        """Take due deliveries (and ones whose sender stopped), oldest due first."""
        now = time.time()
        # Most polls find nothing: a read says so without taking SQLite's one write lock.
        with self.db.read() as conn:
            if not DELIVERIES.anything_due(conn, now):
                return []
        with self.db.write() as conn:
            rows = DELIVERIES.claim(
                conn,
                self.db.dialect,
                now=now,
                limit=limit,
                holder=sender,
                lease_seconds=lease_seconds,
            )
            return [_delivery(row._mapping) for row in rows]

    def settle(
        self,
        delivery_id: str,
        sender: str,
        attempt: JsonDict,
        status: DeliveryStatus,
        next_attempt_at: float | None = None,
    ) -> bool:
        """Record one attempt and what follows it: another at ``next_attempt_at``, or the end.

        False: ``sender`` no longer holds the delivery (its lease lapsed and another sender
        took it, or its job was deleted); the attempt is not recorded.
        """
        now = time.time()
        t = webhook_deliveries.c
        with self.db.write() as conn:
            row = conn.execute(
                sa.select(t.log, t.attempts)
                .where(DELIVERIES.held_by([delivery_id], sender))
                .with_for_update()
            ).first()
            if row is None:
                return False
            ended = status is not DeliveryStatus.PENDING
            # Each attempt by what came of it: delivered, retried later, failed, disabled.
            add(conn, "webhook_deliveries_total", outcome=ATTEMPT_OUTCOMES[status])
            conn.execute(
                webhook_deliveries.update()
                .where(t.id == delivery_id)
                .values(
                    status=status.value,
                    attempts=row.attempts + 1,
                    log=[*row.log, attempt],
                    next_attempt_at=next_attempt_at if next_attempt_at is not None else now,
                    lease_until=None,
                    worker_id=None,
                    completed_at=now if ended else None,
                )
            )
            return True

    def disable_endpoint(self, url: str, reason: str) -> None:
        """Send nothing more to ``url``: its waiting deliveries end as disabled."""
        now = time.time()
        digest = url_digest(url)
        with self.db.write() as conn:
            known = conn.execute(
                sa.select(webhook_endpoints.c.url_sha256).where(
                    webhook_endpoints.c.url_sha256 == digest
                )
            ).first()
            if known is None:
                conn.execute(
                    webhook_endpoints.insert().values(
                        url_sha256=digest, url=url, disabled_at=now, reason=reason
                    )
                )
            conn.execute(
                webhook_deliveries.update()
                .where(
                    webhook_deliveries.c.url == url,
                    webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
                )
                .values(status=DeliveryStatus.DISABLED.value, completed_at=now)
            )

    def for_job(self, job_id: str) -> list[Delivery]:
        t = webhook_deliveries.c
        query = sa.select(webhook_deliveries).where(t.job_id == job_id).order_by(t.event_id, t.id)
        with self.db.read() as conn:
            return [_delivery(row) for row in conn.execute(query).mappings()]


def _delivery(row: Mapping[Any, Any]) -> Delivery:
    return Delivery(
        id=row["id"],
        job_id=row["job_id"],
        event_id=int(row["event_id"]),
        event=row["event"],
        url=row["url"],
        format=row["format"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        log=list(row["log"]),
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        completed_at=row["completed_at"],
    )
