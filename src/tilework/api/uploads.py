"""/v1/uploads: stream a raw image body into object storage, content-addressed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from tilework.api import schemas
from tilework.api.auth import Caller
from tilework.api.state import ApiState, api_state
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import SNIFF_BYTES, sniff
from tilework.objects.keys import upload_key
from tilework.objects.store import ObjectInfo, ObjectStore

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])


@router.post(
    "",
    status_code=201,
    response_model=schemas.Upload,
    responses={
        413: {"model": schemas.ErrorBody},
        415: {"model": schemas.ErrorBody},
        422: {"model": schemas.ErrorBody},
    },
)
async def upload(
    request: Request, state: Annotated[ApiState, Depends(api_state)], key: Caller
) -> schemas.Upload:
    """The request body is the image's bytes; the answer names the key to use as job input."""
    limit = state.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    staged = staging_path(state.objects, "upload")
    objects = state.objects_for(key.tenant)
    try:
        digest, size, head = await _receive(request, staged, limit)
        stored = await run_in_threadpool(store_staged, objects, staged, digest, size, head)
    finally:
        staged.unlink(missing_ok=True)
    url = objects.url(stored.key, state.settings.signed_url_seconds)
    return schemas.Upload(key=stored.key, url=url, bytes=stored.bytes, sha256=stored.sha256)


def store_staged(
    objects: ObjectStore, staged: Path, digest: str, size: int, head: bytes
) -> ObjectInfo:
    """Store a received image under its content address, once it is known to be one: the one
    path for uploads, whether sent raw or as a prediction's data URI."""
    if size == 0:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED, "the upload is empty; send the image bytes as the body"
        )
    if sniff(head) is None:
        raise TileworkError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "the upload is not a JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF image",
        )
    return objects.put_file(upload_key(digest), staged, digest)


def staging_path(objects: ObjectStore, kind: str) -> Path:
    return objects.scratch_dir() / f"{kind}-{os.getpid()}-{os.urandom(8).hex()}"


async def _receive(request: Request, staged: Path, limit: int) -> tuple[str, int, bytes]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    with staged.open("wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest(), size, head


def _too_large(limit: int) -> TileworkError:
    return TileworkError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"uploads are limited to {limit} bytes", {"max_bytes": limit}
    )
