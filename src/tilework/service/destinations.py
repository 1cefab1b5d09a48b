"""A tenant's output destinations: saved only once tilework could write to them, listed
without their credentials, and named by jobs (``/v1/jobs``'s ``destination``, or a render
contract project a destination serves)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from tilework.core.destinations import (
    Destination,
    missing_fields,
    template_fields,
)
from tilework.core.errors import ErrorCode, TileworkError, field_failures
from tilework.core.jobs import JsonDict
from tilework.core.settings import Settings
from tilework.objects.destinations import open_destination
from tilework.objects.paths import validate_key
from tilework.service.services import Services
from tilework.store.destinations import save_destination, tenant_destinations

PROBE_PREFIX = "tilework-probe-"


def save(services: Services, destination: Destination) -> bool:
    """Check it, write and delete a probe object with its credentials, then keep it (sealed).
    True when it is new. Refusals name the field at fault."""
    try:
        names = template_fields(destination.path_template)
        # Every field filled with a plain name: what is left must make a valid key.
        validate_key(destination.path_template.format(**dict.fromkeys(names, "x")))
    except ValueError as exc:
        raise field_failures([(("path_template",), str(exc))]) from None
    except TileworkError as error:
        raise field_failures([(("path_template",), error.message)]) from None
    if destination.prefix:
        try:
            validate_key(destination.prefix)
        except TileworkError as error:
            raise field_failures([(("prefix",), error.message)]) from None
    if overlaps_own_storage(services.settings, destination):
        raise field_failures(
            [
                (
                    ("prefix",),
                    "this is where tilework keeps its own files (TILEWORK_STORAGE_URL), which "
                    "it sweeps: give a bucket or prefix of the tenant's own",
                )
            ]
        )
    _probe(services, destination)
    return save_destination(services.database, services.settings.signing_key(), destination)


def overlaps_own_storage(settings: Settings, destination: Destination) -> bool:
    storage = urlparse(settings.resolved_storage_url)
    if storage.scheme != "s3" or storage.netloc != destination.bucket:
        return False
    if (destination.endpoint or "").rstrip("/") != settings.s3_endpoint.rstrip("/"):
        return False
    ours, theirs = storage.path.strip("/"), destination.prefix.strip("/")
    return (
        not ours
        or not theirs
        or f"{ours}/".startswith(f"{theirs}/")
        or (f"{theirs}/".startswith(f"{ours}/"))
    )


def _probe(services: Services, destination: Destination) -> None:
    bucket = open_destination(destination, services.objects.scratch_dir())
    key = f"{PROBE_PREFIX}{os.urandom(8).hex()}"
    staged = services.objects.scratch_dir() / key
    staged.write_bytes(b"tilework checks that it can deliver here\n")
    try:
        bucket.put_file(key, staged)
        bucket.delete(key)
    except TileworkError as error:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"tilework could not write to bucket {destination.bucket}: {error.message}",
            {"errors": [{"field": "credentials", "message": error.message}]},
        ) from None
    finally:
        staged.unlink(missing_ok=True)


def delivery_for(services: Services, tenant: str, asked: JsonDict, params: JsonDict) -> JsonDict:
    """``{"destination", "vars"}`` for a job that names a destination, once its path template
    is known to be fillable by the job."""
    name, given = asked["name"], asked.get("vars") or {}
    found = {each.name: each for each, _ in tenant_destinations(services.database, tenant)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none configured"
        raise field_failures(
            [(("destination", "name"), f"no destination {name} (the tenant's: {known})")]
        )
    missing = missing_fields(found[name].path_template, params, given)
    if missing:
        names = ", ".join(missing)
        raise field_failures(
            [
                (
                    ("destination", "vars"),
                    f"destination {name}'s path template {found[name].path_template} needs "
                    f"{names}: give them in destination.vars or as params",
                )
            ]
        )
    return {"destination": name, "vars": given}


def project_destination(services: Services, tenant: str, project_id: str) -> str | None:
    """The destination a render contract project's results go to: one that names the project,
    else one that serves every project (``*``)."""
    serving = [
        each
        for each, _ in tenant_destinations(services.database, tenant)
        if each.serves_project(project_id)
    ]
    named = [each for each in serving if project_id in each.render_projects]
    chosen = (named or serving)[:1]
    return chosen[0].name if chosen else None


def described(destination: Destination, has_credentials: bool) -> dict[str, Any]:
    """What an answer shows of it: everything but the credentials."""
    return {
        "name": destination.name,
        "tenant": destination.tenant,
        "bucket": destination.bucket,
        "prefix": destination.prefix,
        "endpoint": destination.endpoint,
        "region": destination.region,
        "public": destination.public,
        "public_url": destination.public_url,
        "path_template": destination.path_template,
        "render_projects": destination.render_projects,
        "credentials": "set" if has_credentials else "none",
    }
