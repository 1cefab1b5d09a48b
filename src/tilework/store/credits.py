"""Credits: reserved at submit, released at the end, and on success charged what was made.

Each movement is a ledger row written in the transaction that makes it, so the ledger and the
balance never disagree. The reservation is one conditional ``UPDATE … WHERE credits >= cost``:
on PostgreSQL concurrent submits queue on the key's row lock and each sees the balance the one
before it left; on SQLite writers take turns anyway. Either way no key spends more than it has.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tilework.core.credits import made_cost
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict
from tilework.store.counters import add
from tilework.store.database import Database
from tilework.store.schema import api_keys, credit_ledger

RESERVE, CHARGE, RELEASE, GRANT = "reserve", "charge", "release", "grant"


def reserve(conn: sa.Connection, key_id: str, job_id: str, cost: float) -> None:
    """Take ``cost`` from the key's balance for ``job_id``, or raise ``insufficient_credits``."""
    balance = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.credits >= cost)
        .values(credits=api_keys.c.credits - cost)
        .returning(api_keys.c.credits)
    ).scalar_one_or_none()
    if balance is None:
        left = conn.execute(
            sa.select(api_keys.c.credits).where(api_keys.c.id == key_id)
        ).scalar_one_or_none()
        raise TileworkError(
            ErrorCode.INSUFFICIENT_CREDITS,
            f"the job costs {cost:g} credits and this key has {left or 0:g} left",
            {"cost": cost, "balance": left},
        )
    _record(conn, key_id, job_id, RESERVE, -cost, balance)


def settle(
    conn: sa.Connection,
    job: Mapping[Any, Any],
    succeeded: bool,
    made: float | None = None,
    detail: JsonDict | None = None,
) -> None:
    """At a job's end the reservation is released; a success is then charged what it made
    (``made``, else its outputs' megapixels; never more than was reserved), the charge's
    row saying what for (``detail``)."""
    cost, key_id = job.get("cost"), job.get("key_id")
    if not cost or key_id is None:
        return
    used = made_cost(job.get("outputs") or []) if made is None else made
    spent = min(float(cost), used) if succeeded else 0.0
    balance = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id)
        .values(credits=api_keys.c.credits + (cost - spent))
        .returning(api_keys.c.credits)
    ).scalar_one()
    _record(conn, key_id, job["id"], RELEASE, float(cost), balance + spent)
    if succeeded:
        _record(conn, key_id, job["id"], CHARGE, -spent, balance, detail)
        add(conn, "credits_charged_total", spent, operation=job["operation"])


def ledger(database: Database, key_id: str, limit: int = 200) -> list[JsonDict]:
    """The key's movements, newest first."""
    query = (
        sa.select(credit_ledger)
        .where(credit_ledger.c.key_id == key_id)
        .order_by(credit_ledger.c.id.desc())
        .limit(limit)
    )
    with database.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def _record(
    conn: sa.Connection,
    key_id: str,
    job_id: str | None,
    kind: str,
    amount: float,
    balance: float,
    detail: JsonDict | None = None,
) -> None:
    conn.execute(
        credit_ledger.insert().values(
            key_id=key_id,
            job_id=job_id,
            kind=kind,
            amount=amount,
            balance=balance,
            created_at=time.time(),
            detail=detail,
        )
    )
