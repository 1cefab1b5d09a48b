"""A destination's bucket as an object store, and the URLs its delivered objects are read at."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from tilework.core.destinations import Destination

if TYPE_CHECKING:
    from obstore.store import S3Config

    from tilework.objects.s3 import S3ObjectStore


def open_destination(destination: Destination, scratch: Path) -> S3ObjectStore:
    # Imported here: obstore's native library is only loaded where something is delivered.
    from tilework.objects.s3 import S3ObjectStore

    config: S3Config = {}
    if destination.endpoint:
        config["endpoint"] = destination.endpoint
    config["region"] = destination.region or "us-east-1"
    credentials = destination.credentials
    if credentials is not None:
        config["access_key_id"] = credentials.access_key_id
        config["secret_access_key"] = credentials.secret_access_key
        if credentials.session_token:
            config["session_token"] = credentials.session_token
    return S3ObjectStore(
        destination.bucket,
        destination.prefix,
        config,
        scratch,
        allow_http=(destination.endpoint or "").startswith("http://"),
    )


def public_url(destination: Destination, key: str) -> str:
    """Where anyone reads ``key`` (relative to the destination's prefix) of a public
    destination: under its ``public_url`` when it has one (a CDN, Supabase's public object
    path), else the bucket's own path-style URL."""
    full = "/".join(part for part in (destination.prefix.strip("/"), key) if part)
    if destination.public_url:
        return f"{destination.public_url.rstrip('/')}/{quote(full)}"
    region = destination.region or "us-east-1"
    endpoint = destination.endpoint or f"https://s3.{region}.amazonaws.com"
    return f"{endpoint.rstrip('/')}/{destination.bucket}/{quote(full)}"
