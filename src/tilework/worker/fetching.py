"""A job's ``fetch_input`` task: fetch its URL input once, into the job's folder, and name the
job's cache key now that its input's sha256 is known.

The job's later tasks read the stored copy (the job's input becomes ``{key, url, sha256}``),
so a URL is fetched once whatever the number of tasks, and what they read is what the key
was made from. The queue then looks the key up (``queue.sql.stages``): a retained equal job
answers this one, which runs nothing more.
"""

from __future__ import annotations

import os

from tilework.core.jobs import ClaimedTask, JsonDict
from tilework.core.settings import Settings
from tilework.objects.digest import file_sha256
from tilework.objects.paths import job_output_key
from tilework.objects.store import ObjectStore
from tilework.ops.caching import cache_key
from tilework.ops.inputs import download
from tilework.ops.registry import Registry

INPUT_NAME = "input"


def fetch_input(
    settings: Settings, objects: ObjectStore, registry: Registry, claimed: ClaimedTask
) -> JsonDict:
    url = str(claimed.input["url"])
    staged = objects.scratch_dir() / f"fetch-{os.getpid()}-{os.urandom(6).hex()}"
    try:
        download(url, staged, settings)
        digest, _ = file_sha256(staged)
        stored = objects.put_file(job_output_key(claimed.task.job_id, INPUT_NAME), staged, digest)
    finally:
        staged.unlink(missing_ok=True)
    operation = registry.get(claimed.operation)
    valid = operation.validate(claimed.params)
    return {
        "input": {"key": stored.key, "url": url, "sha256": digest},
        "cache_key": cache_key(settings, operation, valid, digest, claimed.params),
    }
