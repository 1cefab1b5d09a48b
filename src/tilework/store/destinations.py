"""A tenant's output destinations, kept with their credentials sealed by the server's secret
key (``core.sealing``): the database alone reveals none of them."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from typing import Any

import sqlalchemy as sa

from tilework.core.destinations import Credentials, Destination
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.sealing import SealBrokenError, seal, unseal
from tilework.store.database import Database
from tilework.store.schema import destinations


def save_destination(database: Database, secret_key: bytes, destination: Destination) -> bool:
    """Create or replace it; True when it is new."""
    credentials = destination.credentials
    sealed = (
        None
        if credentials is None
        else seal(secret_key, json.dumps(asdict(credentials)), destination.context)
    )
    now = time.time()
    values: dict[str, Any] = {
        "bucket": destination.bucket,
        "prefix": destination.prefix,
        "path_template": destination.path_template,
        "endpoint": destination.endpoint,
        "region": destination.region,
        "public": destination.public,
        "public_url": destination.public_url,
        "render_projects": destination.render_projects,
        "credentials": sealed,
        "updated_at": now,
    }
    where = _row(destination.tenant, destination.name)
    with database.write() as conn:
        updated = conn.execute(destinations.update().where(where).values(**values)).rowcount
        if updated:
            return False
        conn.execute(
            destinations.insert().values(
                tenant=destination.tenant, name=destination.name, created_at=now, **values
            )
        )
    return True


def find_destination(
    database: Database, secret_key: bytes, tenant: str, name: str
) -> Destination | None:
    """The destination with its credentials opened; ``provider_misconfigured`` when they were
    sealed with another secret key (hosts must share ``TILEWORK_SECRET_KEY``)."""
    with database.read() as conn:
        row = conn.execute(sa.select(destinations).where(_row(tenant, name))).mappings().first()
    if row is None:
        return None
    found = _destination(row)
    if row["credentials"] is None:
        return found
    try:
        opened = json.loads(unseal(secret_key, row["credentials"], found.context))
    except SealBrokenError as exc:
        raise TileworkError(
            ErrorCode.PROVIDER_MISCONFIGURED,
            f"destination {name}'s credentials cannot be opened ({exc}): every host must run "
            "with the TILEWORK_SECRET_KEY they were saved with; save the destination again",
            {"destination": name, "setting": "TILEWORK_SECRET_KEY"},
        ) from None
    return replace(found, credentials=Credentials(**opened))


def tenant_destinations(database: Database, tenant: str) -> list[tuple[Destination, bool]]:
    """Each of the tenant's destinations, without credentials, and whether it has some."""
    query = (
        sa.select(destinations).where(destinations.c.tenant == tenant).order_by(destinations.c.name)
    )
    with database.read() as conn:
        rows = conn.execute(query).mappings().all()
    return [(_destination(row), row["credentials"] is not None) for row in rows]


def delete_destination(database: Database, tenant: str, name: str) -> bool:
    with database.write() as conn:
        return bool(conn.execute(destinations.delete().where(_row(tenant, name))).rowcount)


def _row(tenant: str, name: str) -> sa.ColumnElement[bool]:
    return sa.and_(destinations.c.tenant == tenant, destinations.c.name == name)


def _destination(row: Any) -> Destination:
    return Destination(
        tenant=row["tenant"],
        name=row["name"],
        bucket=row["bucket"],
        prefix=row["prefix"],
        path_template=row["path_template"],
        endpoint=row["endpoint"],
        region=row["region"],
        public=bool(row["public"]),
        public_url=row["public_url"],
        render_projects=list(row["render_projects"]),
    )
