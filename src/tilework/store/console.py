"""What the console reads from the database, beyond what /v1 reads: jobs by a filter, the
numbers of its overview, a job's tasks with their attempts, its credit movements; and what its
actions write (a webhook delivery sent again, bulk actions' progress).

Everything is read from the database on each request, so what the console shows survives
restarts and agrees across API hosts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import sqlalchemy as sa

from tilework.core.ids import new_id
from tilework.core.jobs import JobRecord, JobStatus, JsonDict
from tilework.store.database import Database
from tilework.store.deliveries import DeliveryStatus
from tilework.store.records import job_from_row
from tilework.store.schema import bulk_actions, credit_ledger, jobs, tasks, webhook_deliveries

HOUR = 3600.0
WAIT_SAMPLE = 10_000  # the last hour's ended jobs whose waits make the percentiles, at most
TEXT_CHARS = 200


@dataclass(frozen=True)
class JobFilter:
    """A job list's filter, as its URL's query names it. Empty fields match everything."""

    status: str = ""
    operation: str = ""
    tenant: str = ""  # an admin's view only: other keys see their own tenant
    since: str = ""  # ISO 8601: created at or after
    until: str = ""  # ISO 8601: created before
    error: str = ""  # an error code
    idempotency_key: str = ""
    text: str = ""  # anywhere in the params

    def query(self) -> dict[str, str]:
        """The non-empty fields, for a URL."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def conditions(self, tenant: str | None, since: float | None, until: float | None) -> list[Any]:
        """``tenant``: the tenant the caller is held to (None: any); ``since``, ``until``:
        the time range, parsed."""
        owner = tenant or self.tenant or None
        equal = {
            jobs.c.tenant: owner,
            jobs.c.status: self.status,
            jobs.c.operation: self.operation,
            jobs.c.error_code: self.error,
        }
        found: list[Any] = [column == value for column, value in equal.items() if value]
        if since is not None:
            found.append(jobs.c.created_at >= since)
        if until is not None:
            found.append(jobs.c.created_at < until)
        if self.idempotency_key:
            found.append(self._idempotency(owner))
        if self.text:
            # The params as their JSON text, on either database: a substring, no syntax.
            needle = _escaped(self.text[:TEXT_CHARS])
            found.append(sa.cast(jobs.c.params, sa.Text).like(f"%{needle}%", escape="\\"))
        return found

    def _idempotency(self, owner: str | None) -> Any:
        # Stored under its tenant (``service.submit``): one tenant's key is not another's.
        if owner:
            return jobs.c.idempotency_key == f"{owner}/{self.idempotency_key}"
        suffix = f"%/{_escaped(self.idempotency_key)}"
        return jobs.c.idempotency_key.like(suffix, escape="\\")


def _escaped(text: str) -> str:
    """``text`` matched literally by LIKE (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_jobs(
    database: Database, conditions: Sequence[Any], limit: int, before: str | None = None
) -> list[JobRecord]:
    """Newest first; ``before``: the last id of the page before."""
    query = sa.select(jobs).where(*conditions).order_by(jobs.c.id.desc()).limit(limit)
    if before:
        query = query.where(jobs.c.id < before)
    with database.read() as conn:
        return [job_from_row(row) for row in conn.execute(query)]


def matching_ids(
    database: Database,
    conditions: Sequence[Any],
    after: str | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> list[str]:
    """Ids of jobs matching, oldest first, from after ``after``: a bulk action's next batch."""
    order = jobs.c.id.desc() if newest_first else jobs.c.id
    query = sa.select(jobs.c.id).where(*conditions).order_by(order).limit(limit)
    if after:
        query = query.where(jobs.c.id > after)
    with database.read() as conn:
        return [row.id for row in conn.execute(query)]


def count_matching(database: Database, conditions: Sequence[Any]) -> int:
    with database.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(*conditions)).scalar_one())


@dataclass(frozen=True)
class Overview:
    by_status: dict[str, int]
    ended_last_hour: int
    failed_last_hour: int
    wait_p50: float | None
    wait_p95: float | None

    @property
    def failure_rate(self) -> float | None:
        return self.failed_last_hour / self.ended_last_hour if self.ended_last_hour else None


def overview(database: Database, tenant: str | None, now: float | None = None) -> Overview:
    now = time.time() if now is None else now
    mine = [jobs.c.tenant == tenant] if tenant is not None else []
    counts = sa.select(jobs.c.status, sa.func.count()).where(*mine).group_by(jobs.c.status)
    ended = (
        sa.select(jobs.c.status, jobs.c.created_at, jobs.c.started_at)
        .where(*mine, jobs.c.completed_at >= now - HOUR)
        .order_by(jobs.c.completed_at.desc())
        .limit(WAIT_SAMPLE)
    )
    with database.read() as conn:
        by_status = {status.value: 0 for status in JobStatus}
        by_status.update({row[0]: int(row[1]) for row in conn.execute(counts)})
        rows = conn.execute(ended).all()
    failed = sum(1 for row in rows if row.status == JobStatus.FAILED.value)
    waits = sorted(row.started_at - row.created_at for row in rows if row.started_at)
    return Overview(by_status, len(rows), failed, _percentile(waits, 0.5), _percentile(waits, 0.95))


def _percentile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True)
class TaskView:
    """A task as the console's job page shows it: its place, state, latest attempt and the
    failed attempts before it."""

    id: int
    stage: int
    position: int
    kind: str
    payload: JsonDict
    status: str
    attempts: int
    worker: str | None
    started_at: float | None
    completed_at: float | None
    error_code: str | None
    error_message: str | None
    fallback: bool
    attempt_log: list[JsonDict] = field(default_factory=list)


TASKS_SHOWN = 2_000


def job_tasks(database: Database, job_id: str) -> list[TaskView]:
    query = (
        sa.select(tasks)
        .where(tasks.c.job_id == job_id)
        .order_by(tasks.c.stage, tasks.c.position)
        .limit(TASKS_SHOWN)
    )
    with database.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        TaskView(
            id=row["id"],
            stage=row["stage"],
            position=row["position"],
            kind=row["kind"],
            payload=row["payload"] or {},
            status=row["status"],
            attempts=row["attempts"],
            worker=row["worker_id"],
            started_at=row["started_at"],
            completed_at=row["completed_at"],
            error_code=row["error_code"],
            error_message=row["error_message"],
            fallback=bool((row["payload"] or {}).get("fallback")),
            attempt_log=list(row["attempt_log"] or []),
        )
        for row in rows
    ]


def job_ledger(database: Database, job_id: str) -> list[JsonDict]:
    """The credit movements a job made (reserve, charge, release), oldest first."""
    query = sa.select(credit_ledger).where(credit_ledger.c.job_id == job_id)
    with database.read() as conn:
        return [dict(row) for row in conn.execute(query.order_by(credit_ledger.c.id)).mappings()]


SENT = (DeliveryStatus.DELIVERED.value, DeliveryStatus.FAILED.value, DeliveryStatus.DISABLED.value)


def send_again(database: Database, job_id: str, delivery_id: str) -> bool:
    """Queue a settled delivery of ``job_id`` for one more attempt, now; False when there is
    no such delivery or it is still being sent."""
    with database.write() as conn:
        done = conn.execute(
            webhook_deliveries.update()
            .where(
                webhook_deliveries.c.id == delivery_id,
                webhook_deliveries.c.job_id == job_id,
                webhook_deliveries.c.status.in_(SENT),
            )
            .values(
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=time.time(),
                completed_at=None,
            )
        )
        return bool(done.rowcount)


@dataclass(frozen=True)
class BulkAction:
    id: str
    key_id: str
    tenant: str | None
    action: str
    filter: JsonDict
    status: str
    total: int
    done: int
    skipped: int
    created_at: float
    ended_at: float | None
    error: str | None


RUNNING, DONE, FAILED = "running", "done", "failed"


def start_bulk(
    database: Database, key_id: str, tenant: str | None, action: str, filter: JsonDict, total: int
) -> BulkAction:
    bulk = BulkAction(
        new_id(), key_id, tenant, action, filter, RUNNING, total, 0, 0, time.time(), None, None
    )
    with database.write() as conn:
        conn.execute(bulk_actions.insert().values(**asdict(bulk)))
    return bulk


def bulk_progress(
    database: Database,
    bulk_id: str,
    done: int,
    skipped: int,
    status: str = RUNNING,
    error: str | None = None,
) -> None:
    values: dict[str, Any] = {"done": done, "skipped": skipped, "status": status, "error": error}
    if status != RUNNING:
        values["ended_at"] = time.time()
    with database.write() as conn:
        conn.execute(bulk_actions.update().where(bulk_actions.c.id == bulk_id).values(**values))


def bulk_action(database: Database, bulk_id: str, tenant: str | None) -> BulkAction | None:
    """``tenant``: the caller's (None: an admin, who sees every bulk action)."""
    query = sa.select(bulk_actions).where(bulk_actions.c.id == bulk_id)
    if tenant is not None:
        query = query.where(bulk_actions.c.tenant == tenant)
    with database.read() as conn:
        row = conn.execute(query).mappings().first()
    return BulkAction(**dict(row)) if row else None
