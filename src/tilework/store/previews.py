"""Jobs' console previews (``job_previews``): which ended jobs still need them, saving them,
reading one back for its own tenant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from tilework.core.jobs import JobRecord
from tilework.core.previews import Preview
from tilework.store.database import Database
from tilework.store.records import job_from_row
from tilework.store.schema import job_previews, jobs


@dataclass(frozen=True)
class PreviewInfo:
    name: str
    width: int
    height: int


def unpreviewed(database: Database, limit: int) -> list[JobRecord]:
    """Ended jobs without previews yet, the earliest ended first."""
    query = (
        sa.select(jobs)
        .where(jobs.c.previewed.is_(False), jobs.c.completed_at.is_not(None))
        .order_by(jobs.c.completed_at)
        .limit(limit)
    )
    with database.read() as conn:
        return [job_from_row(row) for row in conn.execute(query)]


def save_previews(database: Database, job_id: str, made: Mapping[str, Preview]) -> None:
    if not made:
        return
    rows = [
        {
            "job_id": job_id,
            "name": name,
            "media_type": preview.media_type,
            "width": preview.width,
            "height": preview.height,
            "data": preview.data,
        }
        for name, preview in made.items()
    ]
    with database.write() as conn:
        # Made again after a lost turn: the newer ones stand.
        conn.execute(job_previews.delete().where(job_previews.c.job_id == job_id))
        conn.execute(job_previews.insert(), rows)


def mark_previewed(database: Database, job_ids: Sequence[str]) -> None:
    if job_ids:
        with database.write() as conn:
            conn.execute(jobs.update().where(jobs.c.id.in_(job_ids)).values(previewed=True))


def previews_of(database: Database, job_id: str) -> list[PreviewInfo]:
    query = (
        sa.select(job_previews.c.name, job_previews.c.width, job_previews.c.height)
        .where(job_previews.c.job_id == job_id)
        .order_by(job_previews.c.name)
    )
    with database.read() as conn:
        return [PreviewInfo(row.name, row.width, row.height) for row in conn.execute(query)]


def preview_names(database: Database, job_ids: Sequence[str]) -> dict[str, set[str]]:
    """The names of each job's previews, in one read (a page of jobs)."""
    query = sa.select(job_previews.c.job_id, job_previews.c.name).where(
        job_previews.c.job_id.in_(list(job_ids))
    )
    found: dict[str, set[str]] = {job_id: set() for job_id in job_ids}
    with database.read() as conn:
        for row in conn.execute(query):
            found[row.job_id].add(row.name)
    return found


def preview(database: Database, job_id: str, tenant: str | None, name: str) -> Preview | None:
    """One preview of a job of ``tenant`` (None: any tenant's, for an admin)."""
    query = (
        sa.select(job_previews)
        .join(jobs, jobs.c.id == job_previews.c.job_id)
        .where(job_previews.c.job_id == job_id, job_previews.c.name == name)
    )
    if tenant is not None:
        query = query.where(jobs.c.tenant == tenant)
    with database.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return Preview(bytes(row.data), row.width, row.height, row.media_type)
