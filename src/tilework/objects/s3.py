"""Objects in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Supabase Storage), via obstore.

obstore signs requests itself and sends no ``x-amz-checksum-*`` headers unless asked to, which
several S3-compatible servers reject. Large files go up as multipart uploads read from disk part
by part, so memory stays at ``PART_BYTES × UPLOAD_CONCURRENCY`` whatever the file's size.
"""

from __future__ import annotations

import io
import mimetypes
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import obstore
from obstore.exceptions import BaseError as ObstoreError
from obstore.exceptions import PermissionDeniedError, UnauthenticatedError
from obstore.store import S3Store

from tilework.core.errors import ErrorCode, TileworkError
from tilework.objects.digest import HASH_CHUNK_BYTES, file_sha256
from tilework.objects.paths import validate_key
from tilework.objects.store import ObjectInfo

if TYPE_CHECKING:
    from obstore import ReadableFile
    from obstore.store import ClientConfig, S3Config

# S3 parts are 5 MiB at least (but the last); 8 MiB halves the requests for large outputs.
PART_BYTES = 8 * 1024 * 1024
UPLOAD_CONCURRENCY = 4
READ_BUFFER_BYTES = 256 * 1024
_REFUSALS = (PermissionDeniedError, UnauthenticatedError)


class S3ObjectStore:
    def __init__(
        self, bucket: str, prefix: str, config: S3Config, scratch: Path, *, allow_http: bool
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        options: ClientConfig = {"allow_http": allow_http, "connect_timeout": "10s"}
        prefixed = self.prefix or None
        self._store = S3Store(bucket, prefix=prefixed, config=config, client_options=options)
        # Uploads are retried by ``objects.uploads`` (logged, with the same policy for every
        # store); obstore's own retries under them would multiply the attempts.
        self._writer = S3Store(
            bucket,
            prefix=prefixed,
            config=config,
            client_options=options,
            retry_config={"max_retries": 0},
        )
        self._scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)

    def put_file(self, key: str, path: Path, sha256: str | None = None) -> ObjectInfo:
        digest, size = (sha256, path.stat().st_size) if sha256 else file_sha256(path)
        content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        with _storage_errors("upload", key):
            # A put is atomic: the object appears whole when the last part is committed.
            obstore.put(
                self._writer,
                validate_key(key),
                path,
                attributes={"Content-Type": content_type},
                chunk_size=PART_BYTES,
                max_concurrency=UPLOAD_CONCURRENCY,
            )
        path.unlink(missing_ok=True)
        return ObjectInfo(key, size, digest)

    @contextmanager
    def readable(self, key: str) -> Iterator[Path]:
        local = self._scratch / f"get-{os.getpid()}-{os.urandom(6).hex()}"
        try:
            with local.open("wb") as handle:
                for chunk in self.open_chunks(key):
                    handle.write(chunk)
            yield local
        finally:
            local.unlink(missing_ok=True)

    def open_chunks(self, key: str, chunk_size: int = HASH_CHUNK_BYTES) -> Iterator[bytes]:
        with _storage_errors("download", key):
            result = obstore.get(self._store, validate_key(key))
            for chunk in result.stream(min_chunk_size=chunk_size):
                yield bytes(chunk)

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        with _storage_errors("download", key):
            reader = obstore.open_reader(
                self._store, validate_key(key), buffer_size=READ_BUFFER_BYTES
            )
        with io.BufferedReader(_RawObject(reader)) as handle:
            yield handle

    def exists(self, key: str) -> bool:
        try:
            with _storage_errors("check", key):
                obstore.head(self._store, validate_key(key))
        except TileworkError as error:
            if error.code is ErrorCode.NOT_FOUND:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        with _storage_errors("delete", key):
            obstore.delete(self._store, validate_key(key))

    def keys_under(self, prefix: str) -> list[str]:
        with _storage_errors("list", prefix):
            return sorted(
                str(meta["path"])
                for batch in obstore.list(self._store, prefix=validate_key(prefix.rstrip("/")))
                for meta in batch
            )

    def url(self, key: str, expires_in: int) -> str:
        """A presigned GET URL: the bucket serves the bytes, not the API."""
        with _storage_errors("sign", key):
            return obstore.sign(
                self._store, "GET", validate_key(key), timedelta(seconds=expires_in)
            )

    def scratch_dir(self) -> Path:
        return self._scratch


class _RawObject(io.RawIOBase):
    """obstore's on-demand reader as a standard binary file (it returns its own Bytes type)."""

    def __init__(self, reader: ReadableFile) -> None:
        self._reader = reader

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._reader.read(len(buffer))
        count = len(data)
        memoryview(buffer).cast("B")[:count] = memoryview(data)
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._reader.seek(offset, whence)

    def tell(self) -> int:
        return self._reader.tell()

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


@contextmanager
def _storage_errors(action: str, key: str) -> Iterator[None]:
    """obstore's exceptions as tilework's codes: a missing object, or a retryable failure."""
    try:
        yield
    except FileNotFoundError as exc:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no object {key}", {"key": key}) from exc
    except (ObstoreError, OSError) as exc:
        code = ErrorCode.UPLOAD_FAILED if action == "upload" else ErrorCode.UNAVAILABLE
        raise TileworkError(
            code,
            f"object storage failed to {action} {key}: {_first_line(exc)}",
            {"key": key},
            # Refused credentials stay refused; 5xx, resets and timeouts may pass.
            retryable=not isinstance(exc, _REFUSALS),
        ) from exc


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
