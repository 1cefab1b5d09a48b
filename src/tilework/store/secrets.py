"""Secrets that every host must share and nobody configured: generated once, kept in the
database, so that API hosts sign alike (a secret generated on each host's disk would not be)."""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa

from tilework.core.falsigning import new_signing_key
from tilework.core.keys import DEFAULT_TENANT
from tilework.core.settings import Settings
from tilework.core.signatures import new_secret
from tilework.store.database import Database
from tilework.store.schema import shared_secrets

WEBHOOK_SECRET = "webhook_secret"
FAL_SIGNING_KEY = "fal_webhook_signing_key"


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


def webhook_secrets(
    settings: Settings, database: Database, tenant: str = DEFAULT_TENANT
) -> list[str]:
    """Secrets to sign ``tenant``'s webhooks with, current first. Each tenant has its own,
    generated once; the configured ones (``TILEWORK_WEBHOOK_SECRET``) are the default
    tenant's, as they were before there were tenants."""
    if tenant == DEFAULT_TENANT:
        configured = settings.configured_webhook_secrets()
        if configured:
            return configured
        return [shared_secret(database, WEBHOOK_SECRET, new_secret)]
    return [shared_secret(database, f"{WEBHOOK_SECRET}:{tenant}", new_secret)]


def fal_signing_key(database: Database) -> str:
    """The Ed25519 key fal-style webhooks are signed with (``core.falsigning``): one for the
    whole server, as fal has one, since the signed message names the tenant."""
    return shared_secret(database, FAL_SIGNING_KEY, new_signing_key)
