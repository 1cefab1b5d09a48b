"""Histograms kept in the database (``schema.histogram_buckets``): each observation adds one
to its bucket's count, and its value to the bucket's sum. ``/metrics`` reads them back
cumulative, as Prometheus wants.

Jobs' times are folded in after the fact, not when a job ends: ending a job is the queue's
hottest write, and three more upserts there cost a third of the end-to-end throughput
(``bench/taskqueue.py``). ``fold`` takes ended jobs not yet observed (``jobs.observed``),
oldest first, adds their times up per bucket in memory and writes one upsert per bucket
touched; a scrape folds first, so does every retention sweep, and deleting jobs folds them
before their rows go: each job's times are counted once, and never lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from tilework.store.database import Database
from tilework.store.dialect import upsert_into
from tilework.store.schema import histogram_buckets, jobs

INF = "+Inf"
# A job's times: a thumbnail's seconds to a gigapixel upscale's hour.
JOB_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Storing a job's outputs: a small file on a local disk to large ones over a slow link.
UPLOAD_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class Bucket:
    name: str
    labels: dict[str, str]
    le: str  # its upper bound, or "+Inf"
    count: float
    sum: float


def bound(value: float, bounds: Sequence[float]) -> str:
    """The label of the bucket ``value`` falls in: the first bound not below it."""
    for upper in bounds:
        if value <= upper:
            return bucket_label(upper)
    return INF


def _add(conn: sa.Connection, name: str, labels: str, le: str, count: float, total: float) -> None:
    row = {"name": name, "labels": labels, "le": le, "count": count, "sum": total}
    insert = upsert_into(conn.dialect.name, histogram_buckets)
    c = histogram_buckets.c
    conn.execute(
        insert.values(**row).on_conflict_do_update(
            index_elements=[c.name, c.labels, c.le],
            set_={"count": c.count + insert.excluded.count, "sum": c.sum + insert.excluded.sum},
        )
    )


# The steps that store a job's outputs, by name (``TaskContext.store_output``'s "store", a
# palette's "upload_palette", a render's "upload"), after a job of steps' "<n>." prefix.
UPLOAD_STEPS = ("store", "upload")
FOLD_BATCH = 5_000


def fold(conn: sa.Connection, limit: int = FOLD_BATCH, job_ids: Sequence[str] = ()) -> int:
    """Fold ended jobs not yet observed into the histograms (``job_ids``: those, else the
    oldest ``limit``); how many were folded. Runs in the caller's write transaction."""
    query = sa.select(
        jobs.c.id,
        jobs.c.operation,
        jobs.c.status,
        jobs.c.created_at,
        jobs.c.started_at,
        jobs.c.completed_at,
        jobs.c.timings,
    ).where(jobs.c.observed.is_(False), jobs.c.completed_at.is_not(None))
    if job_ids:
        query = query.where(jobs.c.id.in_(job_ids))
    else:
        query = query.order_by(jobs.c.completed_at).limit(limit)
    ended = conn.execute(query.with_for_update()).all()
    if not ended:
        return 0
    added: dict[tuple[str, str, str], list[float]] = {}
    for job in ended:
        for name, seconds, named in _times(job):
            bounds = UPLOAD_SECONDS if name == "upload_seconds" else JOB_SECONDS
            key = (name, json.dumps(named, sort_keys=True), bound(seconds, bounds))
            count_sum = added.setdefault(key, [0.0, 0.0])
            count_sum[0] += 1
            count_sum[1] += seconds
    for (name, labels, le), (count, total) in sorted(added.items()):
        _add(conn, name, labels, le, count, total)
    ids = [job.id for job in ended]
    conn.execute(jobs.update().where(jobs.c.id.in_(ids)).values(observed=True))
    return len(ids)


def _times(job: Any) -> list[tuple[str, float, dict[str, str]]]:
    """A job's observations: its whole time; its wait for its first task and its run, if it
    started; the time it spent storing its outputs, if it stored any."""
    labels = {"operation": job.operation, "status": job.status}
    found = [("job_duration_seconds", job.completed_at - job.created_at, labels)]
    if job.started_at is not None:
        found.append(("job_queue_wait_seconds", job.started_at - job.created_at, labels))
        found.append(("job_run_seconds", job.completed_at - job.started_at, labels))
    stored = [
        seconds
        for step, seconds in (job.timings or {}).items()
        if step.rpartition(".")[2].startswith(UPLOAD_STEPS)
    ]
    if stored:
        found.append(("upload_seconds", sum(stored), {"operation": job.operation}))
    return [(name, max(seconds, 0.0), named) for name, seconds, named in found]


def buckets(database: Database) -> list[Bucket]:
    with database.read() as conn:
        rows = conn.execute(sa.select(histogram_buckets)).mappings()
        return [
            Bucket(row["name"], json.loads(row["labels"]), row["le"], row["count"], row["sum"])
            for row in rows
        ]


def bucket_label(upper: float) -> str:
    """A bucket's ``le`` as stored and exposed."""
    return repr(float(upper))
