"""Build the object store a storage URL names."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse
from urllib.request import url2pathname

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.settings import Settings
from tilework.objects.local import LocalObjectStore
from tilework.objects.signing import UrlSigner
from tilework.objects.store import ObjectStore

if TYPE_CHECKING:
    from obstore.store import S3Config

SCRATCH = "scratch"


def open_object_store(settings: Settings) -> ObjectStore:
    url = urlparse(settings.resolved_storage_url)
    if url.scheme == "file":
        signer = UrlSigner(settings.signing_key(), settings.resolved_public_url)
        return LocalObjectStore(Path(url2pathname(url.path)), signer)
    if url.scheme == "s3" and url.netloc:
        # Imported here: obstore's native library is only loaded by deployments that use it.
        from tilework.objects.s3 import S3ObjectStore

        return S3ObjectStore(
            url.netloc,
            url.path,
            s3_config(settings),
            settings.home / SCRATCH,
            allow_http=settings.s3_endpoint.startswith("http://"),
        )
    raise TileworkError(
        ErrorCode.VALIDATION_FAILED,
        f"unsupported storage URL {settings.resolved_storage_url!r}: "
        "use file:///path or s3://bucket/prefix",
    )


def s3_config(settings: Settings) -> S3Config:
    """Only what is set: obstore fills the rest from the standard AWS environment and chain."""
    config: S3Config = {}
    if settings.s3_endpoint:
        config["endpoint"] = settings.s3_endpoint
    if settings.s3_region:
        config["region"] = settings.s3_region
    if settings.s3_access_key_id:
        config["access_key_id"] = settings.s3_access_key_id
    if settings.s3_secret_access_key is not None:
        config["secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    return config
