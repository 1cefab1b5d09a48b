"""Upscale jobs run by the real worker loop in this process (``tests/support/workers.py``): the
real queue, operation and storage, no task processes; those are the acceptance tier's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyvips

from tests.support.pixels import Pixels, pixels
from tests.support.workers import work_until_idle
from tilework.core.jobs import JobRecord, NewJob
from tilework.core.keys import DEFAULT_TENANT
from tilework.core.settings import Settings
from tilework.objects.paths import upload_key
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.ops.registry import Registry
from tilework.queue.sql import SqlQueue


class Inline:
    def __init__(self, settings: Settings, queue: SqlQueue, objects: ObjectStore) -> None:
        # The default tenant's view, as the task runner gives the tasks of its jobs.
        self.settings, self.queue = settings, queue
        self.objects: ObjectStore = TenantObjects(objects, DEFAULT_TENANT)
        self.registry = Registry.load(settings)

    def upload(self, path: Path) -> str:
        key = upload_key(path.stem + "-" + str(path.stat().st_size))
        copy = path.with_suffix(".upload")
        copy.write_bytes(path.read_bytes())
        return self.objects.put_file(key, copy).key

    def submit(self, key: str, **params: Any) -> str:
        operation = self.registry.get("upscale")
        valid = operation.validate(params)
        source = {"key": key}
        operation.admit(valid, source, self.objects, self.settings)
        new = NewJob("upscale", valid.model_dump(mode="json"), source, operation.stages(valid))
        return self.queue.create_job(new)[0].id

    def drain(self, job_id: str) -> JobRecord:
        """Run the queue until nothing is left to do; the job must have ended by then."""
        work_until_idle(self.settings, self.queue)
        job = self.queue.get_job(job_id)
        assert job is not None and job.status.terminal, job
        return job

    def output(self, job: JobRecord) -> Pixels:
        with self.objects.readable(job.outputs[0]["key"]) as path:
            return pixels(pyvips.Image.new_from_file(str(path)))
