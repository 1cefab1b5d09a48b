"""A job's input as a local file: an uploaded object, or a URL fetched with byte and time caps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict
from tilework.objects.store import ObjectStore
from tilework.ops.base import TaskContext

if TYPE_CHECKING:
    import httpx

CONNECT_TIMEOUT_SECONDS = 10.0
MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 16
_TRANSIENT_STATUS = frozenset({408, 425, 429})


@contextmanager
def local_input(ctx: TaskContext[Any]) -> Iterator[Path]:
    """Yield a readable path for the job's input for the length of the block."""
    with local_copy(ctx, ctx.input) as path:
        yield path


@contextmanager
def local_copy(ctx: TaskContext[Any], source: JsonDict) -> Iterator[Path]:
    """Yield a readable path for any source, ``{"key"}`` or ``{"url"}``, for the block."""
    if source.get("key") is not None:
        with ctx.objects.readable(source["key"]) as path:
            yield path
        return
    with ctx.scratch_file() as target:
        settings = ctx.settings
        download(str(source["url"]), target, settings.max_upload_bytes, settings.download_timeout)
        yield target


def require_uploaded(objects: ObjectStore, key: str, field: str) -> None:
    """Refuse at submit, naming ``field``, a key that names no uploaded object."""
    if not objects.exists(key):
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"no uploaded object {key!r}",
            {"errors": [{"field": field, "message": "not found"}]},
        )


def download(url: str, target: Path, max_bytes: int, deadline_seconds: float) -> int:
    """Stream ``url`` into ``target``; returns the byte count. Errors are ``download_failed``."""
    # Imported here: most inputs are uploads, and the task process is smaller without httpx.
    import httpx

    deadline = time.monotonic() + deadline_seconds
    timeout = httpx.Timeout(deadline_seconds, connect=CONNECT_TIMEOUT_SECONDS)
    try:
        with (
            httpx.Client(
                timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS
            ) as client,
            client.stream("GET", url) as response,
        ):
            _check_status(url, response)
            return _save_body(response, target, max_bytes, deadline)
    except httpx.HTTPError as exc:
        raise TileworkError(ErrorCode.DOWNLOAD_FAILED, f"fetching {url} failed: {exc}") from exc


def _check_status(url: str, response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    retryable = response.status_code >= 500 or response.status_code in _TRANSIENT_STATUS
    raise TileworkError(
        ErrorCode.DOWNLOAD_FAILED,
        f"fetching {url} answered HTTP {response.status_code}",
        {"status": response.status_code},
        retryable=retryable,
    )


def _save_body(response: httpx.Response, target: Path, max_bytes: int, deadline: float) -> int:
    size = 0
    with target.open("wb") as handle:
        for chunk in response.iter_bytes(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise TileworkError(
                    ErrorCode.DOWNLOAD_FAILED,
                    f"the input is larger than {max_bytes} bytes",
                    {"max_bytes": max_bytes},
                    retryable=False,
                )
            if time.monotonic() > deadline:
                raise TileworkError(ErrorCode.DOWNLOAD_FAILED, "the input download took too long")
            handle.write(chunk)
    return size
