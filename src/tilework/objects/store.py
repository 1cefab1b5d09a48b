"""The storage interface every backend satisfies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    bytes: int
    sha256: str


class ObjectStore(Protocol):
    def put_file(self, key: str, path: Path, sha256: str | None = None) -> ObjectInfo:
        """Store the file at ``path`` under ``key`` atomically, consuming the file.

        A caller that already hashed the bytes passes ``sha256`` to spare a second read.
        """
        ...

    def readable(self, key: str) -> AbstractContextManager[Path]:
        """A local path holding the object's bytes for the duration of the ``with`` block."""
        ...

    def open_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The object's bytes, streamed."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A seekable binary file of the object, read on demand (a header without the body)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def keys_under(self, prefix: str) -> list[str]:
        """The keys of every object whose key starts with ``prefix`` (a folder, ``…/``)."""
        ...

    def url(self, key: str, expires_in: int) -> str:
        """A URL anyone holding it can GET the object from until it expires."""
        ...

    def scratch_dir(self) -> Path:
        """A local directory for files that are about to be stored (same filesystem if local)."""
        ...
