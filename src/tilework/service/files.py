"""Replicate's files: images a caller uploads once and names as a prediction's input by URL.

A file's bytes are checked as every upload is (the size cap, the magic bytes) and stored once
per tenant under their content address; each file is its own row, with its own id, name,
metadata and expiry. A prediction naming a file's URL gets the file's object as its input,
looked up inside tilework for the caller's tenant: the URL is never fetched.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterable
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.ids import new_id
from tilework.core.settings import Settings
from tilework.objects.paths import file_key
from tilework.objects.store import ObjectStore
from tilework.service.services import Services
from tilework.service.uploads import StagedImage, staged_image
from tilework.store.files import FileRecord

_FILE_PATH = re.compile(r"^/v1/files/(?P<id>[0-9a-z]{26})(/download)?$")
MAX_NAME_CHARS = 255


async def create_file(
    services: Services,
    tenant: str,
    content: AsyncIterable[bytes],
    name: str,
    metadata: dict[str, Any],
    file_id: str | None = None,
) -> FileRecord:
    """Store an uploaded file; ``file_id`` when its id was handed out before its bytes came."""
    objects = services.objects_for(tenant)
    settings = services.settings
    async with staged_image(objects, content, settings.max_upload_bytes) as image:
        now = time.time()
        record = FileRecord(
            id=file_id or new_id(),
            tenant=tenant,
            name=name[:MAX_NAME_CHARS] or image.sha256,
            content_type=image.format.media_type,
            size=image.size,
            sha256=image.sha256,
            metadata=metadata,
            created_at=now,
            expires_at=now + settings.file_seconds,
        )
        await anyio.to_thread.run_sync(_store, services, objects, record, image)
    return record


def get_file(services: Services, tenant: str, file_id: str) -> FileRecord:
    found = services.files.get(tenant, file_id, time.time())
    if found is None:
        raise no_file(file_id)
    return found


def list_files(services: Services, tenant: str, limit: int, before: str | None) -> list[FileRecord]:
    return services.files.list(tenant, time.time(), limit, before)


def delete_file(services: Services, tenant: str, file_id: str) -> FileRecord:
    """Delete the tenant's file; its bytes go too unless another file names them."""
    objects = services.objects_for(tenant)
    removed = services.files.remove(tenant, file_id, lambda gone: objects.delete(bytes_key(gone)))
    if removed is None:
        raise no_file(file_id)
    return removed


def own_file_id(settings: Settings, url: str) -> str | None:
    """The file id a URL names when it is one of this server's file URLs (``urls.get``, as
    the official clients pass it on as an input), else None."""
    parts, public = urlsplit(url), urlsplit(settings.resolved_public_url)
    if parts.netloc.lower() != public.netloc.lower():
        return None
    path = parts.path[len(public.path) :] if parts.path.startswith(public.path) else ""
    matched = _FILE_PATH.match(path)
    return matched.group("id") if matched else None


def file_source(services: Services, tenant: str, file_id: str) -> dict[str, str]:
    """A job input naming the tenant's file's bytes; ``not_found`` for any other tenant's."""
    return {"key": bytes_key(get_file(services, tenant, file_id))}


def bytes_key(record: FileRecord) -> str:
    return file_key(record.sha256)


def no_file(file_id: str) -> TileworkError:
    return TileworkError(ErrorCode.NOT_FOUND, f"no file {file_id}", {"id": file_id})


def _store(
    services: Services, objects: ObjectStore, record: FileRecord, image: StagedImage
) -> None:
    # Counted in first: a delete of the last other file naming these bytes either ran before
    # (and removed them, so they are stored again here) or sees this file and keeps them.
    services.files.add(record)
    key = bytes_key(record)
    try:
        if not objects.exists(key):
            objects.put_file(key, image.path, image.sha256)
    except BaseException:
        services.files.remove(record.tenant, record.id, lambda _: objects.delete(key))
        raise
