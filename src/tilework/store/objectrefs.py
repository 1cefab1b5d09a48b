"""Who uses files outside their own job's folder (``schema.object_refs``), and which files
are free to go once a job that used or owned them is gone.

A job's files live under ``jobs/<id>/``. A cache hit shares another job's outputs (a ref per
key); a retry reads the files of the job it retries (a ref to that whole folder). Deleting a
job keeps whatever another job refers to; the last of those users to go takes the files of
a job that is already gone. Two deletions racing (the owner's and the last user's) cannot
both miss them: each looks only after its own rows are gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from tilework.objects.paths import JOBS_FOLDER, job_folder
from tilework.store.schema import jobs, object_refs


def folder_owner(prefix: str) -> str | None:
    """The job whose folder holds ``prefix`` (a key or a folder), if it is in one."""
    if not prefix.startswith(JOBS_FOLDER):
        return None
    owner, slash, _ = prefix[len(JOBS_FOLDER) :].partition("/")
    return owner if slash and owner else None


@dataclass(frozen=True)
class Used:
    """What other jobs use of a job's folder: all of it, or these keys."""

    whole: bool
    keys: frozenset[str]

    def covers(self, key: str) -> bool:
        return self.whole or key in self.keys


def refer(conn: sa.Connection, job_id: str, tenant: str, prefixes: Iterable[str]) -> None:
    rows = [{"job_id": job_id, "tenant": tenant, "prefix": p} for p in sorted(set(prefixes))]
    if rows:
        conn.execute(object_refs.insert(), rows)


def refs_of(conn: sa.Connection, job_id: str) -> list[str]:
    """What ``job_id`` uses outside its folder."""
    query = sa.select(object_refs.c.prefix).where(object_refs.c.job_id == job_id)
    return [row.prefix for row in conn.execute(query)]


def used_by_others(conn: sa.Connection, tenant: str, job_id: str) -> Used:
    """What jobs other than ``job_id`` use of its folder."""
    folder = job_folder(job_id)
    rows = conn.execute(
        sa.select(object_refs.c.prefix).where(
            object_refs.c.tenant == tenant,
            object_refs.c.prefix.startswith(folder, autoescape=True),
            object_refs.c.job_id != job_id,
        )
    )
    prefixes = {row.prefix for row in rows}
    return Used(folder in prefixes, frozenset(prefixes - {folder}))


def mark_removing(conn: sa.Connection, job_ids: Sequence[str]) -> None:
    """From now on no retry or cache hit may start using these jobs' files (those look for
    jobs with ``removing_at`` null, under the same row lock)."""
    conn.execute(
        jobs.update()
        .where(jobs.c.id.in_(job_ids), jobs.c.removing_at.is_(None))
        .values(removing_at=time.time())
    )


def drop_refs(
    conn: sa.Connection, job_ids: Sequence[str], keep: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """Forget what ``job_ids`` use (but ``keep``); the (tenant, prefix) pairs forgotten."""
    kept = set(keep)
    rows = conn.execute(
        sa.select(object_refs.c.job_id, object_refs.c.tenant, object_refs.c.prefix).where(
            object_refs.c.job_id.in_(job_ids)
        )
    ).all()
    dropped = [row for row in rows if row.prefix not in kept]
    for row in dropped:
        conn.execute(
            object_refs.delete().where(
                object_refs.c.job_id == row.job_id, object_refs.c.prefix == row.prefix
            )
        )
    return [(row.tenant, row.prefix) for row in dropped]


def gone_owners(
    conn: sa.Connection, candidates: Iterable[tuple[str, str]]
) -> list[tuple[str, str, Used]]:
    """Of the folders ``candidates`` (tenant, prefix) lie in, those whose job is gone, with
    what is still used of each: the rest of such a folder is to be deleted."""
    owners = {(tenant, owner) for tenant, prefix in candidates if (owner := folder_owner(prefix))}
    found = []
    for tenant, owner in sorted(owners):
        if conn.execute(sa.select(jobs.c.id).where(jobs.c.id == owner)).first() is not None:
            continue
        used = used_by_others(conn, tenant, owner)
        if not used.whole:
            found.append((tenant, owner, used))
    return found
