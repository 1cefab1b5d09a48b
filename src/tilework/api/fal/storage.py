"""fal's storage upload, as the JavaScript client does it for a Blob or File input: initiate
(``POST /fal/storage/upload/initiate`` with ``{content_type, file_name}``) gets a signed
``upload_url`` to PUT the bytes to and the ``file_url`` the input then names, one of this
server's file URLs (``/v1/files/{id}``), which a submit resolves without fetching.

The upload URL carries its tenant, its file id and its expiry, signed with the server's key:
the PUT needs no API key (the client sends none there), and nobody can forge another.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from tilework.api.dependencies import AppServices
from tilework.api.fal import schemas
from tilework.api.fal.errors import FalCaller, FalRoute
from tilework.api.fal.views import PREFIX
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.ids import new_id
from tilework.objects.signing import UrlSigner
from tilework.service import files
from tilework.service.services import Services

router = APIRouter(prefix=f"{PREFIX}/storage/upload", tags=["fal"], route_class=FalRoute)

UPLOAD_SECONDS = 3600  # how long an upload URL may be used


@router.post("/initiate", response_model=schemas.UploadTarget)
def initiate_upload(
    body: schemas.UploadInitiate,
    services: AppServices,
    key: FalCaller,
    storage_type: Annotated[str | None, Query(description="Accepted and ignored.")] = None,
) -> dict[str, str]:
    """Where to PUT a file's bytes, and the URL to name the file by once they are there."""
    file_id = new_id()
    expires = int(time.time()) + UPLOAD_SECONDS
    signature = _signer(services).signature("PUT", _signed_key(key.tenant, file_id), expires)
    query = urlencode(
        {"tenant": key.tenant, "name": body.file_name, "expires": expires, "signature": signature}
    )
    base = services.settings.resolved_public_url
    return {
        "upload_url": f"{base}{PREFIX}/storage/upload/{file_id}?{query}",
        "file_url": f"{base}/v1/files/{file_id}",
    }


@router.put(
    "/{file_id}",
    response_model=schemas.UploadedFile,
    responses={
        403: {"model": schemas.FalError, "description": "The URL is invalid or has expired."},
        415: {"model": schemas.FalError, "description": "Not an image tilework reads."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def put_upload(
    file_id: str,
    request: Request,
    services: AppServices,
    tenant: str,
    expires: int,
    signature: str,
    name: str = "",
) -> dict[str, str]:
    """The bytes of an initiated upload (at most the upload cap; an image tilework reads)."""
    signer = _signer(services)
    if not signer.verify("PUT", _signed_key(tenant, file_id), expires, signature):
        raise TileworkError(ErrorCode.FORBIDDEN, "the upload URL is invalid or has expired")
    taken = await run_in_threadpool(services.files.get, tenant, file_id, 0.0)
    if taken is not None:
        raise TileworkError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            f"file {file_id} was uploaded already; initiate another upload",
            {"id": file_id},
        )
    record = await files.create_file(services, tenant, _body(request), name, {}, file_id=file_id)
    return {"id": record.id, "content_type": record.content_type}


def _signer(services: Services) -> UrlSigner:
    return UrlSigner(services.settings.signing_key(), services.settings.resolved_public_url)


def _signed_key(tenant: str, file_id: str) -> str:
    return f"fal-upload/{tenant}/{file_id}"


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        yield chunk
