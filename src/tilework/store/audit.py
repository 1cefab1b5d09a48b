"""The audit log: deletions someone asked for (a job, a tenant's purge), by whose key."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from tilework.core.jobs import JsonDict
from tilework.store.database import Database
from tilework.store.schema import audit_log


def audit(
    database: Database, key_id: str, tenant: str, action: str, target: str, detail: JsonDict
) -> None:
    with database.write() as conn:
        conn.execute(
            audit_log.insert().values(
                at=time.time(),
                key_id=key_id,
                tenant=tenant,
                action=action,
                target=target,
                detail=detail,
            )
        )


def audited(database: Database, limit: int = 200) -> list[dict[str, Any]]:
    """The newest entries first."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    with database.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
