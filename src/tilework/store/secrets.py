"""Secrets that every host must share and nobody configured: generated once, kept in the
database, so that API hosts sign alike (a secret generated on each host's disk would not be)."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from tilework.core.settings import Settings
from tilework.core.signatures import new_secret
from tilework.store.database import Database
from tilework.store.schema import shared_secrets

WEBHOOK_SECRET = "webhook_secret"


def shared_secret(database: Database, name: str, make: Callable[[], str]) -> str:
    """The secret called ``name``, made by ``make`` by whichever host asks first."""
    query = sa.select(shared_secrets.c.value).where(shared_secrets.c.name == name)
    with database.read() as conn:
        found = conn.execute(query).scalar_one_or_none()
    if found is not None:
        return str(found)
    try:
        with database.write() as conn:
            conn.execute(
                shared_secrets.insert().values(name=name, value=make(), created_at=time.time())
            )
    except sa.exc.IntegrityError:
        pass  # another host made it first: theirs is the one
    with database.read() as conn:
        return str(conn.execute(query).scalar_one())


def webhook_secrets(settings: Settings, database: Database) -> list[str]:
    """Secrets to sign webhooks with, current first: configured, else the shared generated one."""
    return settings.configured_webhook_secrets() or [
        shared_secret(database, WEBHOOK_SECRET, new_secret)
    ]
