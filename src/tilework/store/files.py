"""Replicate-style files in the database: one row per file, and per tenant a count of the files
that name each stored content, so that bytes shared by several files go with the last of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from tilework.store.database import Database, retry_deadlocks
from tilework.store.dialect import upsert_into
from tilework.store.schema import file_blobs, files


@dataclass(frozen=True)
class FileRecord:
    id: str
    tenant: str
    name: str
    content_type: str
    size: int
    sha256: str
    metadata: dict[str, Any]
    created_at: float
    expires_at: float


class Files:
    def __init__(self, database: Database) -> None:
        self.db = database

    @retry_deadlocks
    def add(self, record: FileRecord) -> None:
        """Count the file in for its bytes, and record it. Done before the bytes are stored:
        a delete of the last other file naming them then either ran first (and removed the
        object before this stores it again) or sees this count and keeps the object."""
        with self.db.write() as conn:
            conn.execute(self._count_in(record.tenant, record.sha256))
            conn.execute(files.insert().values(**asdict(record)))

    def get(self, tenant: str, file_id: str, now: float) -> FileRecord | None:
        """The tenant's file, unless it has expired."""
        query = sa.select(files).where(
            files.c.id == file_id, files.c.tenant == tenant, files.c.expires_at > now
        )
        with self.db.read() as conn:
            row = conn.execute(query).mappings().first()
        return _record(row) if row else None

    def expired(self, now: float, limit: int) -> list[FileRecord]:
        """Files past their expiry, oldest first: no longer readable, their rows still here."""
        query = (
            sa.select(files)
            .where(files.c.expires_at <= now)
            .order_by(files.c.expires_at)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def list(self, tenant: str, now: float, limit: int, before: str | None) -> list[FileRecord]:
        """The tenant's live files, newest first; ``before`` an id, to page on from."""
        query = sa.select(files).where(files.c.tenant == tenant, files.c.expires_at > now)
        if before is not None:
            query = query.where(files.c.id < before)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(files.c.id.desc()).limit(limit)).mappings()
            return [_record(row) for row in rows]

    @retry_deadlocks
    def remove(
        self, tenant: str, file_id: str, drop_bytes: Callable[[FileRecord], None]
    ) -> FileRecord | None:
        """Delete the tenant's file; when no other file names its bytes, ``drop_bytes`` removes
        them inside the transaction, holding the count's row against a create of the same
        bytes. None when there is no such file."""
        with self.db.write() as conn:
            deleted = conn.execute(
                files.delete()
                .where(files.c.id == file_id, files.c.tenant == tenant)
                .returning(*files.c)
            ).mappings()
            row = deleted.first()
            if row is None:
                return None
            record = _record(row)
            blob = (file_blobs.c.tenant == tenant) & (file_blobs.c.sha256 == record.sha256)
            refs = conn.execute(
                file_blobs.update()
                .where(blob)
                .values(refs=file_blobs.c.refs - 1)
                .returning(file_blobs.c.refs)
            ).scalar_one()
            if refs == 0:
                conn.execute(file_blobs.delete().where(blob))
                drop_bytes(record)
            return record

    def _count_in(self, tenant: str, sha256: str) -> Any:
        insert = upsert_into(self.db.dialect.name, file_blobs)
        return insert.values(tenant=tenant, sha256=sha256, refs=1).on_conflict_do_update(
            index_elements=["tenant", "sha256"], set_={"refs": file_blobs.c.refs + 1}
        )


def _record(row: Mapping[Any, Any]) -> FileRecord:
    return FileRecord(**{column.name: row[column.name] for column in files.c})
