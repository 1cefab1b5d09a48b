"""The console's previews, made by the workers once a job ends: a duty of every worker host,
done by one host at a time for all of them (``store.duties``), every ``EVERY_SECONDS``.

For each ended job not yet previewed that made images, or ended without making them: a
thumbnail of its uploaded input and of its first ``MAX_OUTPUTS`` image outputs, and for an
upscale the comparison crops (``imaging.previews``), stored in ``job_previews`` (deleted with
the job). A job that succeeded making no image (``noop``, a hosted text model) gets none: a
queue of thousands of such jobs costs one UPDATE per ``BATCH`` here, no image work. A preview
that cannot be made (an output that is not an image, a file already gone) is skipped and
logged; the job is marked previewed either way, so nothing is tried twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import structlog

from tilework.core.jobs import JobRecord, JobStatus
from tilework.core.previews import Preview
from tilework.imaging.previews import comparison, thumbnail
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.store.database import Database
from tilework.store.duties import InTurns
from tilework.store.previews import mark_previewed, save_previews, unpreviewed

log = structlog.get_logger("tilework.worker")

DUTY = "previews"
EVERY_SECONDS = 1.0
LEASE_SECONDS = 120.0
BATCH = 100
MAX_OUTPUTS = 4
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".gif", ".avif", ".heic")


class Previews(InTurns):
    def __init__(self, database: Database, store: ObjectStore) -> None:
        super().__init__(database, DUTY, EVERY_SECONDS, EVERY_SECONDS, LEASE_SECONDS)
        self.store = store

    def work(self) -> None:
        while not self.stopping:
            batch = unpreviewed(self.database, BATCH)
            for job in batch:
                save_previews(self.database, job.id, self.previews_of(job))
            mark_previewed(self.database, [job.id for job in batch])
            if len(batch) < BATCH or not self.extend():
                break

    def previews_of(self, job: JobRecord) -> dict[str, Preview]:
        objects = TenantObjects(self.store, job.tenant)
        made: dict[str, Preview] = {}
        images = [
            str(output["key"])
            for output in job.outputs
            if str(output.get("key", "")).lower().endswith(IMAGE_SUFFIXES)
        ]
        if job.status is JobStatus.SUCCEEDED and not images:
            return made
        source = job.input.get("key")
        if isinstance(source, str):
            _make(made, job, "input", lambda: _thumbnail(objects, source))
        for index, key in enumerate(images[:MAX_OUTPUTS]):
            _make(made, job, f"output-{index}", partial(_thumbnail, objects, key))
        if (
            job.operation == "upscale"
            and job.status is JobStatus.SUCCEEDED
            and isinstance(source, str)
            and images
        ):
            try:
                with objects.readable(source) as before, objects.readable(images[0]) as after:
                    made["before"], made["after"] = comparison(before, after)
            except Exception as exc:  # a preview is a nicety: the job's own outcome stands
                log.warning("preview_failed", job_id=job.id, preview="comparison", error=repr(exc))
        return made


def _make(
    made: dict[str, Preview], job: JobRecord, name: str, build: Callable[[], Preview]
) -> None:
    try:
        made[name] = build()
    except Exception as exc:  # a preview is a nicety: the job's own outcome stands
        log.warning("preview_failed", job_id=job.id, preview=name, error=repr(exc))


def _thumbnail(objects: TenantObjects, key: str) -> Preview:
    with objects.readable(key) as path:
        return thumbnail(path)
