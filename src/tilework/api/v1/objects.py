"""/v1/objects: serve locally stored objects to holders of a valid signed URL.

Signed URLs were once under ``/v1/files/``, where Replicate's files API now lives; a URL signed
then is still served there (its key always has a ``/``, a file id never) until it expires.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse

from tilework.api.dependencies import AppServices
from tilework.api.v1 import schemas
from tilework.core.errors import ErrorCode, TileworkError
from tilework.objects.local import LocalObjectStore

router = APIRouter(tags=["objects"])
SIGNED_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}},
    403: {"model": schemas.ErrorBody, "description": "The signature is invalid or expired."},
    404: {"model": schemas.ErrorBody},
    422: {"model": schemas.ErrorBody, "description": "The key is not a valid object key."},
}


@router.get("/v1/objects/{key:path}", response_class=FileResponse, responses=SIGNED_RESPONSES)
def get_object(
    key: str, services: AppServices, expires: int = 0, signature: str = ""
) -> FileResponse:
    """An object's bytes, for a URL signed by this server (its ``expires`` and ``signature``)."""
    objects = services.objects
    # Other stores hand out their own presigned URLs; only local objects come through here.
    if not isinstance(objects, LocalObjectStore):
        raise TileworkError(ErrorCode.NOT_FOUND, "objects are served by the object store")
    if not objects.signer.verify("GET", key, expires, signature):
        raise TileworkError(ErrorCode.FORBIDDEN, "the URL's signature is invalid or has expired")
    path = objects.path_of(key)
    if not path.is_file():
        raise TileworkError(ErrorCode.NOT_FOUND, f"no object {key}")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


@router.get(
    "/v1/files/{key:path}",
    response_class=FileResponse,
    responses=SIGNED_RESPONSES,
    # Not in the document: its path reads like Replicate's /v1/files/{file_id}, which answers
    # every key without a "/"; this route only ever serves keys with one (signed earlier).
    include_in_schema=False,
)
def get_object_at_its_old_path(
    key: str, services: AppServices, expires: int = 0, signature: str = ""
) -> FileResponse:
    """A URL signed before objects moved to ``/v1/objects``, served until it expires."""
    return get_object(key, services, expires, signature)
