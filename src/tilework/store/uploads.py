"""Uploads as rows: when each tenant's image was last sent and when it expires, and which jobs
name which uploads. An upload is deleted once it has expired and no job that names it is left
(queued, running, or ended and still retained).

The row orders a new upload against the deletion of the same bytes: an upload is recorded
before its bytes are stored, and the sweeper deletes the bytes inside the transaction that
deletes the row (``drop_upload``), so the bytes of a row that exists are never removed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from tilework.objects.paths import upload_key, uploads_named
from tilework.store.database import Database
from tilework.store.dialect import upsert_into
from tilework.store.schema import job_uploads, uploads


@dataclass(frozen=True)
class StoredUpload:
    tenant: str
    sha256: str

    @property
    def key(self) -> str:
        return upload_key(self.sha256)


def record_upload(
    database: Database, tenant: str, sha256: str, size: int, keep_seconds: float
) -> float:
    """Note an upload (sent again: its expiry moves later, never earlier); its expiry."""
    now = time.time()
    insert = upsert_into(database.dialect.name, uploads)
    statement = insert.values(
        tenant=tenant, sha256=sha256, bytes=size, created_at=now, expires_at=now + keep_seconds
    ).on_conflict_do_update(
        index_elements=[uploads.c.tenant, uploads.c.sha256],
        set_={
            "expires_at": sa.case(
                (insert.excluded.expires_at > uploads.c.expires_at, insert.excluded.expires_at),
                else_=uploads.c.expires_at,
            )
        },
    )
    with database.write() as conn:
        conn.execute(statement)
        expires: float = conn.execute(
            sa.select(uploads.c.expires_at).where(
                uploads.c.tenant == tenant, uploads.c.sha256 == sha256
            )
        ).scalar_one()
    return expires


def name_uploads(conn: sa.Connection, jobs: Iterable[tuple[str, str, object]]) -> None:
    """Record which uploads each new job names: ``(job id, tenant, its input and params)``."""
    rows = [
        {"job_id": job_id, "tenant": tenant, "key": key}
        for job_id, tenant, document in jobs
        for key in sorted(uploads_named(document))
    ]
    if rows:
        conn.execute(job_uploads.insert(), rows)


def expired_uploads(conn: sa.Connection, now: float, limit: int) -> list[StoredUpload]:
    """Uploads past their expiry that no job names."""
    named = sa.select(job_uploads.c.key).where(
        job_uploads.c.tenant == uploads.c.tenant,
        job_uploads.c.key == sa.literal("uploads/") + uploads.c.sha256,
    )
    query = (
        sa.select(uploads.c.tenant, uploads.c.sha256)
        .where(uploads.c.expires_at < now, ~named.exists())
        .order_by(uploads.c.expires_at)
        .limit(limit)
    )
    return [StoredUpload(row.tenant, row.sha256) for row in conn.execute(query)]


def drop_upload(
    database: Database, upload: StoredUpload, now: float, drop_bytes: Callable[[], None]
) -> bool:
    """Delete an expired upload no job names: its row, and its bytes (``drop_bytes``) while
    the row's deletion holds the write; False if it was sent again or named meanwhile."""
    named = sa.select(job_uploads.c.key).where(
        job_uploads.c.tenant == upload.tenant, job_uploads.c.key == upload.key
    )
    with database.write() as conn:
        deleted = conn.execute(
            uploads.delete().where(
                uploads.c.tenant == upload.tenant,
                uploads.c.sha256 == upload.sha256,
                uploads.c.expires_at < now,
                ~named.exists(),
            )
        ).rowcount
        if deleted:
            drop_bytes()
    return bool(deleted)


def forget_tenant_uploads(conn: sa.Connection, tenant: str) -> int:
    """Delete every upload row of ``tenant`` (a purge; its bytes go after)."""
    return int(conn.execute(uploads.delete().where(uploads.c.tenant == tenant)).rowcount)
