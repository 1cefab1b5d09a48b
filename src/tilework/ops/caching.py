"""The result cache's key: what makes two jobs' outputs the same bytes.

Two jobs of a deterministic operation (``Operation.cache``) whose input bytes, params,
operation version and variant (the device class super-resolution runs on) are equal make
equal outputs; the second is answered with the first's (``queue.sql.stages``) while the
first is retained, without running or costing anything. An input counts by its sha256: an
upload's or a file's key is its sha256, and a URL's is known once a worker has fetched it
(the job's first stage then, ``FETCH_KIND``). A job whose params name a URL (a render's
texture) has no key: what a URL serves may change.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import tilework
from tilework.core.settings import Settings
from tilework.objects.paths import content_addressed
from tilework.ops.base import CachePolicy, Operation


def input_digest(source: dict[str, Any]) -> str | None:
    """The input's sha256 as far as it is known: "" for no input, None for a URL not fetched
    yet (or a key whose bytes may change)."""
    if not source:
        return ""
    if "sha256" in source:  # a URL's bytes, fetched (``worker.fetching``)
        return str(source["sha256"])
    key = str(source.get("key", ""))
    return key.rsplit("/", 1)[1] if content_addressed(key) else None


def cache_key(
    settings: Settings,
    operation: Operation[Any],
    valid: Any,
    digest: str,
    params: dict[str, Any],
) -> str | None:
    """The key of a job whose input's sha256 is ``digest``; None where it can have none (an
    operation never cached, params that name a URL)."""
    if not settings.cache or operation.name in settings.uncached_operations:
        return None
    if operation.cache_policy(valid) is CachePolicy.NEVER or _names_url(params):
        return None
    described = [
        tilework.__version__,  # an upgrade may change any operation's bytes
        operation.name,
        operation.version,
        operation.cache_variant(valid, settings),
        digest,
        params,
    ]
    canonical = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def answered_from_cache(operation: Operation[Any], valid: Any, asked: bool | None) -> bool:
    """Whether the job is answered from an equal job's outputs when there is one: by default
    for a deterministic operation, only when asked (``cache: true``) for the others that
    allow it, never when the job says ``cache: false``."""
    policy = operation.cache_policy(valid)
    if policy is CachePolicy.ALWAYS:
        return asked is not False
    return policy is CachePolicy.ASKED and asked is True


def _names_url(document: Any) -> bool:
    if isinstance(document, dict):
        return "url" in document or any(_names_url(value) for value in document.values())
    if isinstance(document, list):
        return any(_names_url(item) for item in document)
    return False
