"""Storing images callers send: a raw upload's byte stream, or the bytes of a ``data:`` URI.

Either way the image is staged in the store's scratch directory, checked to be an image, and
stored under its content address (``uploads/<sha256>``), so the same bytes are one object.
Each is recorded, before its bytes are stored, with the time it expires
(``TILEWORK_UPLOAD_SECONDS`` after it was last sent; ``store.uploads``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

import anyio.to_thread

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import SNIFF_BYTES, InputFormat, sniff
from tilework.objects.paths import upload_key
from tilework.objects.store import ObjectInfo, ObjectStore
from tilework.service.services import Services
from tilework.service.validation import invalid_fields
from tilework.store.uploads import record_upload

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?),", re.DOTALL)


class MalformedDataUriError(ValueError):
    """A ``data:`` URI whose base64 payload does not decode."""


@dataclass(frozen=True)
class StagedImage:
    """A received image on local disk, checked, not yet stored."""

    path: Path
    sha256: str
    size: int
    format: InputFormat


@asynccontextmanager
async def staged_image(
    objects: ObjectStore, chunks: AsyncIterable[bytes], max_bytes: int
) -> AsyncIterator[StagedImage]:
    """Stage a streamed body (at most ``max_bytes``, else ``payload_too_large``) and check
    that it is an image; the staged file is gone after the block, stored or not."""
    staged = staging_path(objects, "upload")
    try:
        digest, size, head = await _receive(chunks, staged, max_bytes)
        yield StagedImage(staged, digest, size, image_format(size, head))
    finally:
        staged.unlink(missing_ok=True)


@dataclass(frozen=True)
class StoredUpload:
    info: ObjectInfo
    expires_at: float


async def store_stream(
    services: Services, tenant: str, chunks: AsyncIterable[bytes]
) -> StoredUpload:
    """Stage a streamed body, check it and store it as the tenant's upload."""
    objects = services.objects_for(tenant)
    async with staged_image(objects, chunks, services.settings.max_upload_bytes) as image:
        return await anyio.to_thread.run_sync(
            _store, services, tenant, image.path, image.sha256, image.size
        )


def _store(services: Services, tenant: str, staged: Path, digest: str, size: int) -> StoredUpload:
    """Record the upload (its expiry moves later if it was sent before), then store it."""
    keep = services.settings.upload_seconds
    expires_at = record_upload(services.database, tenant, digest, size, keep)
    info = services.objects_for(tenant).put_file(upload_key(digest), staged, digest)
    return StoredUpload(info, expires_at)


def data_uri_bytes(uri: str) -> bytes | None:
    """The bytes a ``data:`` URI carries (base64 or percent-encoded); None when ``uri`` is not
    a data URI. Raises ``MalformedDataUriError`` for base64 that does not decode."""
    matched = _DATA_URI.match(uri[:512])
    if matched is None:
        return None
    payload = uri[matched.end() :]
    try:
        if ";base64" in matched.group("params"):
            return base64.b64decode(payload, validate=True)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise MalformedDataUriError("the data URI's base64 is malformed") from None


def image_source(services: Services, tenant: str, image: str, field: str) -> dict[str, str]:
    """A job input from an image a caller named: a URL as it is, or a ``data:`` URI stored the
    way ``/v1/uploads`` stores. ``field`` names the image in the caller's terms, for errors."""
    if image.startswith(("http://", "https://")):
        return {"url": image}
    try:
        data = data_uri_bytes(image)
    except MalformedDataUriError as exc:
        raise invalid_fields([{"loc": (field,), "msg": str(exc)}]) from None
    if data is None:
        raise invalid_fields([{"loc": (field,), "msg": "an http(s) URL or a data: URI"}])
    return {"key": store_bytes(services, tenant, data).info.key}


def store_bytes(services: Services, tenant: str, data: bytes) -> StoredUpload:
    """Store an image held in memory (a data URI's), the way a raw upload is stored."""
    max_bytes = services.settings.max_upload_bytes
    if len(data) > max_bytes:
        raise TileworkError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"images are limited to {max_bytes} bytes",
            {"max": max_bytes},
        )
    image_format(len(data), data[:SNIFF_BYTES])
    staged = staging_path(services.objects_for(tenant), "datauri")
    try:
        staged.write_bytes(data)
        return _store(services, tenant, staged, hashlib.sha256(data).hexdigest(), len(data))
    finally:
        staged.unlink(missing_ok=True)


def image_format(size: int, head: bytes) -> InputFormat:
    """The format of received bytes, checked the same way for every way an image arrives:
    a raw upload, a prediction's data URI, a file."""
    if size == 0:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED, "the upload is empty; send the image bytes as the body"
        )
    found = sniff(head)
    if found is None:
        raise TileworkError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "the upload is not a JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF image",
        )
    return found


def staging_path(objects: ObjectStore, kind: str) -> Path:
    return objects.scratch_dir() / f"{kind}-{os.getpid()}-{os.urandom(8).hex()}"


def upload_too_large(max_bytes: int) -> TileworkError:
    return TileworkError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"uploads are limited to {max_bytes} bytes",
        {"max_bytes": max_bytes},
    )


async def _receive(
    chunks: AsyncIterable[bytes], staged: Path, max_bytes: int
) -> tuple[str, int, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    with staged.open("wb") as handle:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise upload_too_large(max_bytes)
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest(), size, head
