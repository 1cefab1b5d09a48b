"""Objects as files under one directory, written atomically (temp file, fsync, rename)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tilework.core.errors import ErrorCode, TileworkError
from tilework.objects.digest import HASH_CHUNK_BYTES, file_sha256
from tilework.objects.paths import validate_key
from tilework.objects.signing import UrlSigner
from tilework.objects.store import ObjectInfo

SCRATCH = ".scratch"


class LocalObjectStore:
    def __init__(self, root: Path, signer: UrlSigner) -> None:
        self.root = root.resolve()
        self.signer = signer
        (self.root / SCRATCH).mkdir(parents=True, exist_ok=True)

    def path_of(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        # validate_key already forbids '..'; this guards against symlinks planted in the root.
        if self.root not in path.parents:
            raise TileworkError(
                ErrorCode.VALIDATION_FAILED, "object key escapes the store", {"key": key}
            )
        return path

    def put_file(self, key: str, path: Path, sha256: str | None = None) -> ObjectInfo:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = self.scratch_dir() / f"{os.getpid()}-{target.name}.{os.urandom(6).hex()}"
        if path.parent == self.scratch_dir():
            os.replace(path, staged)
        else:
            _copy(path, staged)
        digest, size = (sha256, staged.stat().st_size) if sha256 else file_sha256(staged)
        _fsync(staged)
        os.replace(staged, target)
        # The rename is durable only once the directory entry itself reaches the disk.
        _fsync(target.parent)
        return ObjectInfo(key, size, digest)

    @contextmanager
    def readable(self, key: str) -> Iterator[Path]:
        path = self.path_of(key)
        if not path.is_file():
            raise TileworkError(ErrorCode.NOT_FOUND, f"no object {key}", {"key": key})
        yield path

    def open_chunks(self, key: str, chunk_size: int = HASH_CHUNK_BYTES) -> Iterator[bytes]:
        with self.readable(key) as path, path.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        with self.readable(key) as path, path.open("rb") as handle:
            yield handle

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        path.unlink(missing_ok=True)
        # Folders emptied by the delete go too, up to the root: a store that keeps jobs for
        # months would otherwise keep a folder for every job it ever ran.
        for folder in path.parents:
            if folder == self.root:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): the folders above are not either
                break

    def keys_under(self, prefix: str) -> list[str]:
        folder = self.path_of(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix() for path in folder.rglob("*") if path.is_file()
        )

    def url(self, key: str, expires_in: int) -> str:
        return self.signer.sign(validate_key(key), expires_in)

    def scratch_dir(self) -> Path:
        return self.root / SCRATCH


def _copy(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(HASH_CHUNK_BYTES):
            dst.write(chunk)
    source.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
