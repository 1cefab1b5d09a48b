"""A retry's view of the object store: a file its own folder lacks is read from the folder of
the job it retries (and that job's own, back along the chain).

A retried job's succeeded tasks are not run again, so the files they made (an upscale's
tiles, its prepared inputs) stay where the first job put them; the tasks run again write
into the retry's own folder. Every task keeps naming keys in its own folder
(``TaskContext.output_key``): only reads of a key that is not there look further back, so
a file made again always wins over the older one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

from tilework.objects.paths import job_folder
from tilework.objects.store import ObjectInfo, ObjectStore


class ReusingObjects:
    """``store`` (one tenant's view) for tasks of ``job_id``, reading through ``reuses``."""

    def __init__(self, store: ObjectStore, job_id: str, reuses: Sequence[str]) -> None:
        self.store = store
        self._folder = job_folder(job_id)
        self._earlier = [job_folder(earlier) for earlier in reuses]

    def found(self, key: str) -> str:
        """``key``, or where an earlier job of the chain has it."""
        if not key.startswith(self._folder) or self.store.exists(key):
            return key
        rest = key[len(self._folder) :]
        for folder in self._earlier:
            if self.store.exists(folder + rest):
                return folder + rest
        return key  # nowhere: the read fails as it would have

    def put_file(self, key: str, path: Path, sha256: str | None = None) -> ObjectInfo:
        return self.store.put_file(key, path, sha256)

    def readable(self, key: str) -> AbstractContextManager[Path]:
        return self.store.readable(self.found(key))

    def open_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        return self.store.open_chunks(self.found(key), chunk_size)

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.store.open(self.found(key))

    def exists(self, key: str) -> bool:
        return self.store.exists(self.found(key))

    def keys_under(self, prefix: str) -> list[str]:
        return self.store.keys_under(prefix)

    def delete(self, key: str) -> None:
        self.store.delete(key)

    def url(self, key: str, expires_in: int) -> str:
        return self.store.url(self.found(key), expires_in)

    def scratch_dir(self) -> Path:
        return self.store.scratch_dir()
