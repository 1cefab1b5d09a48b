"""API keys in the database: create, find by secret, list, revoke, set limits."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tilework.core.keys import (
    SHOWN_CHARS,
    ApiKey,
    Role,
    new_key_id,
    new_secret,
    secret_hash,
)
from tilework.store.credits import GRANT
from tilework.store.database import Database
from tilework.store.schema import api_keys, credit_ledger


class ApiKeys:
    def __init__(self, database: Database) -> None:
        self.db = database

    def create(
        self,
        tenant: str,
        name: str,
        *,
        role: Role = Role.OPERATOR,
        credits: float | None = None,
        rate_per_minute: int | None = None,
        max_queued_jobs: int | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret, which is shown this once and never stored."""
        secret = new_secret()
        now = time.time()
        values = {
            "id": new_key_id(),
            "secret_sha256": secret_hash(secret),
            "prefix": secret[:SHOWN_CHARS],
            "tenant": tenant,
            "name": name,
            "role": role.value,
            "credits": credits,
            "rate_per_minute": rate_per_minute,
            "max_queued_jobs": max_queued_jobs,
            "created_at": now,
            "revoked_at": None,
        }
        with self.db.write() as conn:
            conn.execute(api_keys.insert().values(**values))
            if credits is not None:
                conn.execute(
                    credit_ledger.insert().values(
                        key_id=values["id"],
                        job_id=None,
                        kind=GRANT,
                        amount=credits,
                        balance=credits,
                        created_at=now,
                    )
                )
        return _key(values), secret

    def authenticate(self, digest: str) -> ApiKey | None:
        """The live key whose secret hashes (``core.keys.secret_hash``) to ``digest``, or None."""
        query = sa.select(api_keys).where(
            api_keys.c.secret_sha256 == digest, api_keys.c.revoked_at.is_(None)
        )
        with self.db.read() as conn:
            row = conn.execute(query).mappings().first()
        return _key(row) if row else None

    def get(self, key_id: str) -> ApiKey | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).mappings()
            found = row.first()
        return _key(found) if found else None

    def list(self) -> list[ApiKey]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).mappings()
            return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        with self.db.write() as conn:
            conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        return self.get(key_id)

    def any_admin(self) -> bool:
        query = sa.select(api_keys.c.id).where(
            api_keys.c.role == Role.ADMIN.value, api_keys.c.revoked_at.is_(None)
        )
        with self.db.read() as conn:
            return conn.execute(query.limit(1)).first() is not None


def _key(row: Mapping[Any, Any]) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        role=Role(row["role"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        credits=row["credits"],
        rate_per_minute=row["rate_per_minute"],
        max_queued_jobs=row["max_queued_jobs"],
    )
