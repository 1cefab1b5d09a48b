"""A job's ``deliver`` task: copy its outputs into the tenant's destination, under the keys
the destination's path template makes.

The copies in tilework's own storage stay the job's (swept with it); the delivered ones belong
to the tenant and nothing of tilework's ever deletes them. Each output is copied through a
scratch file, streamed, so memory stays flat whatever its size.
"""

from __future__ import annotations

import os
from typing import Any

import structlog

from tilework.core.destinations import delivered_key
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict
from tilework.core.settings import Settings
from tilework.objects.destinations import open_destination, public_url
from tilework.objects.store import ObjectStore
from tilework.objects.uploads import upload
from tilework.store.database import process_database
from tilework.store.destinations import find_destination

log = structlog.get_logger("tilework.delivery")


def deliver(settings: Settings, objects: ObjectStore, tenant: str, payload: JsonDict) -> JsonDict:
    """``payload``: the job's ``finished`` outputs, its ``destination`` and the ``values`` its
    path template is filled with. Answers the outputs, each with where it was delivered."""
    name = payload["destination"]
    destination = find_destination(
        process_database(settings.resolved_database_url), settings.signing_key(), tenant, name
    )
    if destination is None:
        raise TileworkError(
            ErrorCode.UPLOAD_FAILED,
            f"destination {name} was removed before the job's outputs were delivered",
            {"destination": name},
            retryable=False,
        )
    bucket = open_destination(destination, objects.scratch_dir())
    outputs: list[dict[str, Any]] = payload["finished"]["outputs"]
    delivered = []
    for index, output in enumerate(outputs):
        key = delivered_key(
            destination.path_template, payload["values"], output, index, len(outputs)
        )
        staged = objects.scratch_dir() / f"deliver-{os.getpid()}-{os.urandom(6).hex()}"
        try:
            with staged.open("wb") as handle:
                for chunk in objects.open_chunks(output["key"]):
                    handle.write(chunk)
            upload(bucket, key, staged, settings)
        finally:
            staged.unlink(missing_ok=True)
        url = public_url(destination, key) if destination.public else None
        delivered.append({**output, "delivered": {"destination": name, "key": key, "url": url}})
        log.info(
            "output_delivered", tenant=tenant, destination=name, key=key, bytes=output.get("bytes")
        )
    return {"outputs": delivered}
