"""/v1/uploads: stream a raw image body into object storage, content-addressed."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tilework.api.dependencies import AppServices, Caller
from tilework.api.v1 import schemas
from tilework.api.v1.bodies import iso
from tilework.core.errors import ErrorCode, TileworkError
from tilework.service.uploads import store_stream, upload_too_large

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])
# The body is the image itself, whatever its declared type: the bytes are checked, not the name.
RAW_IMAGE_BODY = {
    "required": True,
    "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}
        for media_type in ("application/octet-stream", "image/*")
    },
}


@router.post(
    "",
    status_code=201,
    response_model=schemas.Upload,
    openapi_extra={"requestBody": RAW_IMAGE_BODY},
    responses={
        413: {"model": schemas.ErrorBody},
        415: {"model": schemas.ErrorBody},
        422: {"model": schemas.ErrorBody},
    },
)
async def upload(request: Request, services: AppServices, key: Caller) -> schemas.Upload:
    """The request body is the image's bytes; the answer names the key to use as job input."""
    if request.headers.get("content-type", "").startswith("multipart/"):
        raise TileworkError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "/v1/uploads takes the image's raw bytes as the body, not a form: "
            "curl --data-binary @photo.jpg (a form upload goes to POST /v1/files)",
            {"content_type": request.headers["content-type"].split(";")[0]},
        )
    limit = services.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise upload_too_large(limit)
    stored = await store_stream(services, key.tenant, request.stream())
    info = stored.info
    url = services.objects_for(key.tenant).url(info.key, services.settings.signed_url_seconds)
    return schemas.Upload(
        key=info.key,
        url=url,
        bytes=info.bytes,
        sha256=info.sha256,
        expires_at=str(iso(stored.expires_at)),
    )
