"""Replicate's files API: upload an image once (multipart, as the official clients send it),
list, get, download and delete it; its ``urls.get`` is what a prediction names as its input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tilework.api.dependencies import AppServices, Caller
from tilework.api.replicate import schemas
from tilework.api.replicate.problems import Problem, ProblemRoute
from tilework.api.replicate.translate import invalid
from tilework.api.v1.bodies import iso
from tilework.core.settings import Settings
from tilework.service import files
from tilework.store.files import FileRecord

PAGE_SIZE = 100
CHUNK_BYTES = 1 << 20
MAX_METADATA_BYTES = 64 * 1024
# The multipart body the official clients send: the image as ``content`` (with its file name and
# content type), and optionally ``metadata``, JSON, as a plain field (Python) or a part (npm).
MULTIPART_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["content"],
                "properties": {
                    "content": {"type": "string", "format": "binary"},
                    "metadata": {
                        "type": "string",
                        "description": "A JSON object, kept with the file and shown with it.",
                    },
                },
            }
        }
    },
}

router = APIRouter(prefix="/v1/files", tags=["replicate"], route_class=ProblemRoute)


@router.post(
    "",
    status_code=201,
    response_model=schemas.File,
    openapi_extra={"requestBody": MULTIPART_BODY},
    responses={
        415: {"model": Problem, "description": "The content is not an image tilework reads."},
        422: {"model": Problem, "description": "No content part, or metadata not a JSON object."},
    },
)
async def create_file(request: Request, services: AppServices, key: Caller) -> dict[str, Any]:
    """Upload an image (at most the upload cap; JPEG, PNG, WebP, GIF, TIFF, AVIF or HEIF)."""
    try:
        form = await request.form(max_files=2, max_fields=8)
    except HTTPException as exc:  # a body that is not well-formed multipart
        raise invalid("content", str(exc.detail)) from None
    try:
        content = form.get("content")
        if not isinstance(content, UploadFile):
            raise invalid("content", "send the image as a multipart file part named content")
        metadata = await _metadata(form.get("metadata"))
        record = await files.create_file(
            services, key.tenant, _chunks(content), content.filename or "", metadata
        )
    finally:
        await form.close()
    return file_body(services.settings, record)


@router.get("", response_model=schemas.FilePage)
def list_files(
    services: AppServices,
    key: Caller,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE)] = PAGE_SIZE,
) -> dict[str, Any]:
    """The caller's tenant's live files, newest first; ``next`` is the following page's URL."""
    found = files.list_files(services, key.tenant, limit, cursor)
    following = None
    if len(found) == limit:
        query = urlencode({"cursor": found[-1].id, "limit": limit})
        following = f"{services.settings.resolved_public_url}/v1/files?{query}"
    return {
        "previous": None,
        "next": following,
        "results": [file_body(services.settings, record) for record in found],
    }


@router.get("/{file_id}", response_model=schemas.File)
def get_file(file_id: str, services: AppServices, key: Caller) -> dict[str, Any]:
    return file_body(services.settings, files.get_file(services, key.tenant, file_id))


@router.get(
    "/{file_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}},
)
def download_file(file_id: str, services: AppServices, key: Caller) -> StreamingResponse:
    """The file's bytes, as uploaded."""
    record = files.get_file(services, key.tenant, file_id)
    chunks = services.objects_for(key.tenant).open_chunks(files.bytes_key(record))
    return StreamingResponse(
        chunks,
        media_type=record.content_type,
        headers={"Content-Length": str(record.size), "ETag": f'"{record.sha256}"'},
    )


@router.delete("/{file_id}", status_code=204, response_class=Response)
def delete_file(file_id: str, services: AppServices, key: Caller) -> Response:
    files.delete_file(services, key.tenant, file_id)
    return Response(status_code=204)


def file_body(settings: Settings, record: FileRecord) -> dict[str, Any]:
    """A file as Replicate shows one."""
    return {
        "id": record.id,
        "name": record.name,
        "content_type": record.content_type,
        "size": record.size,
        "etag": record.sha256,
        "checksums": {"sha256": record.sha256},
        "metadata": record.metadata,
        "created_at": iso(record.created_at),
        "expires_at": iso(record.expires_at),
        "urls": {"get": f"{settings.resolved_public_url}/v1/files/{record.id}"},
    }


async def _chunks(content: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await content.read(CHUNK_BYTES):
        yield chunk


async def _metadata(value: UploadFile | str | None) -> dict[str, Any]:
    """``metadata`` as the Python client sends it (a field) or the npm one (a JSON part)."""
    if value is None:
        return {}
    raw = value if isinstance(value, str) else await value.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise invalid("metadata", f"metadata is limited to {MAX_METADATA_BYTES} bytes")
    try:
        parsed = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("metadata", "metadata must be JSON") from None
    if not isinstance(parsed, dict):
        raise invalid("metadata", "metadata must be a JSON object")
    return parsed
