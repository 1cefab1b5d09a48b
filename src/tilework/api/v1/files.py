"""/v1/files: serve locally stored objects to holders of a valid signed URL."""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse

from tilework.api.dependencies import AppServices
from tilework.core.errors import ErrorCode, TileworkError
from tilework.objects.local import LocalObjectStore

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.get("/{key:path}", response_class=FileResponse)
def get_file(
    key: str,
    services: AppServices,
    expires: int = 0,
    signature: str = "",
) -> FileResponse:
    objects = services.objects
    # Other stores hand out their own presigned URLs; only local objects come through here.
    if not isinstance(objects, LocalObjectStore):
        raise TileworkError(ErrorCode.NOT_FOUND, "files are served by the object store")
    if not objects.signer.verify("GET", key, expires, signature):
        raise TileworkError(ErrorCode.FORBIDDEN, "the URL's signature is invalid or has expired")
    path = objects.path_of(key)
    if not path.is_file():
        raise TileworkError(ErrorCode.NOT_FOUND, f"no object {key}")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)
