"""A job's event log and the webhook messages it owes, written inside the queue's transactions.

An event is recorded in the same transaction as the state change it describes, and so is every
webhook delivery it causes: a crash can lose neither, and a reader that sees a job ended also
sees its ending event.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tilework.core.ids import new_id
from tilework.core.jobs import EventType, JobRecord
from tilework.store.database import Database
from tilework.store.records import job_from_mapping
from tilework.store.schema import job_events, jobs, webhook_deliveries, webhook_endpoints

# At most one progress event per job in this many seconds: a job of a thousand quick tiles
# would otherwise send a thousand webhooks.
PROGRESS_INTERVAL_SECONDS = 0.5
# Columns a job never changes after submit: read from the job row with its events rather than
# copied into each one (events are written on the queue's hot path; smaller is quicker).
_FIXED = (
    "operation",
    "params",
    "input",
    "stages",
    "idempotency_key",
    "created_at",
    "webhook",
    "tenant",
    "key_id",
)
# Columns of a job row that are bookkeeping, not part of what an event shows.
_PRIVATE = frozenset({"request_hash", "progress_at", *_FIXED})


@dataclass(frozen=True)
class JobEvent:
    id: int
    job_id: str
    type: EventType
    job: JobRecord
    created_at: float


def record_event(
    conn: sa.Connection, row: Mapping[Any, Any], event: EventType, at: float | None = None
) -> None:
    """Append ``event`` for the job in ``row`` (its row as it is now) and queue its webhook;
    ``at``: when it happened, if not now."""
    now = time.time() if at is None else at
    webhook = row.get("webhook")
    insert = job_events.insert().values(_event_values(row, event, now))
    if not webhook or event.value not in webhook["events"]:
        conn.execute(insert)
        return
    event_id = conn.execute(insert.returning(job_events.c.id)).scalar_one()
    _add_delivery(conn, row, event, event_id, now)


def record_started(conn: sa.Connection, rows: Sequence[Mapping[Any, Any]], now: float) -> None:
    """``started`` for every job a claim started at ``now`` (its ``started_at`` and
    ``progress_at``: a progress event comes at least the throttle's interval after, however
    long the claim waited for the write lock): one statement for those without webhooks (a
    claim can start a hundred one-task jobs at once)."""
    quiet = [_event_values(row, EventType.STARTED, now) for row in rows if not row.get("webhook")]
    if quiet:
        conn.execute(job_events.insert(), quiet)
    for row in rows:
        if row.get("webhook"):
            record_event(conn, row, EventType.STARTED, now)


def progress_due(job: JobRecord, now: float) -> bool:
    return job.progress_at is None or now - job.progress_at >= PROGRESS_INTERVAL_SECONDS


def _event_values(row: Mapping[Any, Any], event: EventType, now: float) -> dict[str, Any]:
    snapshot = {name: value for name, value in row.items() if name not in _PRIVATE}
    return {"job_id": row["id"], "type": event.value, "job": snapshot, "created_at": now}


def _add_delivery(
    conn: sa.Connection, row: Mapping[Any, Any], event: EventType, event_id: int, now: float
) -> None:
    webhook = row["webhook"]
    disabled = conn.execute(
        sa.select(webhook_endpoints.c.url_sha256).where(
            webhook_endpoints.c.url_sha256 == url_digest(webhook["url"])
        )
    ).first()
    conn.execute(
        webhook_deliveries.insert().values(
            id=f"msg_{new_id()}",
            job_id=row["id"],
            event_id=event_id,
            event=event.value,
            url=webhook["url"],
            format=webhook.get("format", "tilework"),
            # An endpoint that said 410 Gone is owed nothing more; the row says why not.
            status="disabled" if disabled else "pending",
            attempts=0,
            log=[],
            next_attempt_at=now,
            created_at=now,
            completed_at=now if disabled else None,
        )
    )


def record_progress(conn: sa.Connection, job_id: str) -> None:
    """A progress event for a running job, unless one was recorded within the interval."""
    now = time.time()
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None or row["status"] != "running" or not progress_due(job_from_mapping(row), now):
        return
    conn.execute(jobs.update().where(jobs.c.id == job_id).values(progress_at=now))
    record_event(conn, row, EventType.PROGRESS)


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


class EventLog:
    """Reading a job's events: the event stream, Replicate's logs, webhook bodies."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def after(self, job_id: str, after_id: int = 0, limit: int = 500) -> list[JobEvent]:
        query = (
            _with_job()
            .where(job_events.c.job_id == job_id, job_events.c.id > after_id)
            .order_by(job_events.c.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [_event(row) for row in conn.execute(query).mappings()]

    def get(self, event_id: int) -> JobEvent | None:
        with self.db.read() as conn:
            row = conn.execute(_with_job().where(job_events.c.id == event_id)).mappings().first()
        return _event(row) if row else None


def _with_job() -> sa.Select[Any]:
    fixed = [jobs.c[name].label(f"job_{name}") for name in _FIXED]
    return sa.select(job_events, *fixed).join(jobs, jobs.c.id == job_events.c.job_id)


def _event(row: Mapping[Any, Any]) -> JobEvent:
    job = {**row["job"], **{name: row[f"job_{name}"] for name in _FIXED}}
    return JobEvent(
        id=int(row["id"]),
        job_id=row["job_id"],
        type=EventType(row["type"]),
        job=job_from_mapping(job),
        created_at=row["created_at"],
    )
