"""One tenant's view of the object store: every key lives under ``tenants/<tenant>/``.

Operations and routes keep using the keys they always did (``uploads/<sha256>``,
``jobs/<id>/output.png``); this view puts them under the tenant's prefix, so a key given by
one tenant can only ever name that tenant's objects, and a signed URL (which signs the full
key) names the tenant too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from tilework.objects.paths import validate_key
from tilework.objects.store import ObjectInfo, ObjectStore

TENANTS_PREFIX = "tenants"


def tenant_prefix(tenant: str) -> str:
    return f"{TENANTS_PREFIX}/{tenant}/"


class TenantObjects:
    """An ``ObjectStore`` that is ``store`` seen from inside one tenant's prefix."""

    def __init__(self, store: ObjectStore, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self.prefix = tenant_prefix(tenant)

    def full_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put_file(self, key: str, path: Path, sha256: str | None = None) -> ObjectInfo:
        stored = self.store.put_file(self.full_key(key), path, sha256)
        return ObjectInfo(key, stored.bytes, stored.sha256)

    def readable(self, key: str) -> AbstractContextManager[Path]:
        return self.store.readable(self.full_key(key))

    def open_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        return self.store.open_chunks(self.full_key(key), chunk_size)

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.store.open(self.full_key(key))

    def exists(self, key: str) -> bool:
        return self.store.exists(self.full_key(key))

    def keys_under(self, prefix: str) -> list[str]:
        return [
            key.removeprefix(self.prefix)
            for key in self.store.keys_under(self.full_key(prefix.rstrip("/")) + "/")
        ]

    def delete(self, key: str) -> None:
        self.store.delete(self.full_key(key))

    def url(self, key: str, expires_in: int) -> str:
        return self.store.url(self.full_key(key), expires_in)

    def scratch_dir(self) -> Path:
        return self.store.scratch_dir()
