"""Build the object store a storage URL names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from tilework.core.settings import Settings
from tilework.objects.local import LocalObjectStore
from tilework.objects.signing import UrlSigner
from tilework.objects.store import ObjectStore


def open_object_store(settings: Settings) -> ObjectStore:
    url = urlparse(settings.resolved_storage_url)
    signer = UrlSigner(settings.signing_key(), settings.resolved_public_url)
    if url.scheme == "file":
        return LocalObjectStore(Path(url2pathname(url.path)), signer)
    raise ValueError(f"unsupported storage URL scheme {url.scheme!r} (file:// is supported)")
