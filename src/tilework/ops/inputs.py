"""A job's input as a local file: an uploaded object, or a URL fetched through the fetch policy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict
from tilework.core.settings import Settings
from tilework.net.policy import configured_policy
from tilework.objects.store import ObjectStore
from tilework.ops.base import TaskContext


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
        download(str(source["url"]), target, ctx.settings)
        yield target


def require_uploaded(objects: ObjectStore, key: str, field: str) -> None:
    """Refuse at submit, naming ``field``, a key that names no uploaded object."""
    if not objects.exists(key):
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"no uploaded object {key!r}",
            {"errors": [{"field": field, "message": "not found"}]},
        )


def refuse_blocked_url(settings: Settings, url: str, field: str) -> None:
    """Refuse at submit, naming ``field``, a URL that can only reach a blocked address
    (``ssrf_blocked``); names are resolved, and checked again, when the URL is fetched."""
    try:
        configured_policy(settings).check_url(url)
    except TileworkError as error:
        error.details["errors"] = [{"field": field, "message": error.details["reason"]}]
        raise


def download(url: str, target: Path, settings: Settings, *also_allowed: str) -> int:
    """Stream ``url`` into ``target`` through the fetch policy (``fetch_allow_hosts``, plus
    ``also_allowed`` hosts); returns the byte count."""
    # Imported here: most inputs are uploads, and the task process is smaller without httpx.
    from tilework.net.download import Limits
    from tilework.net.download import download as fetch

    limits = Limits(settings.max_upload_bytes, settings.download_timeout)
    return fetch(url, target, configured_policy(settings, *also_allowed), limits)
