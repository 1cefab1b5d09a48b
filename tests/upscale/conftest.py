"""Run upscale jobs in this process: the real queue, operation and storage, no worker processes.

Tasks are claimed and run one after another by a ``TaskRunner``, exactly the code a worker's
child runs; tests that need real worker processes live with the integration tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import pyvips

from tilework.core.jobs import JobRecord, NewJob
from tilework.core.keys import DEFAULT_TENANT
from tilework.core.settings import Settings
from tilework.objects.keys import upload_key
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.ops.registry import Registry
from tilework.store.queue import Queue
from tilework.store.schema import tasks
from tilework.worker.running import TaskRunner

Pixels = npt.NDArray[np.uint8]


class Inline:
    def __init__(self, settings: Settings, queue: Queue, objects: ObjectStore) -> None:
        # The default tenant's view, as the task runner gives the tasks of its jobs.
        self.settings, self.queue = settings, queue
        self.objects: ObjectStore = TenantObjects(objects, DEFAULT_TENANT)
        self.runner = TaskRunner(settings)
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

    def drain(self, job_id: str, limit: int = 500) -> JobRecord:
        """Run the job's tasks until it ends; a failing attempt goes through ``queue.fail``."""
        for _ in range(limit):
            job = self.queue.get_job(job_id)
            assert job is not None
            if job.status.terminal:
                return job
            for claimed in self.queue.claim("inline", 8, 60):
                reply = self.runner.run(claimed)
                if reply.result is not None:
                    self.queue.complete(claimed.task.id, "inline", reply.result, reply.timings)
                else:
                    self.queue.fail(claimed.task.id, "inline", reply.error())
            self._wake_retries(job_id)
        raise AssertionError(f"job {job_id} did not end")

    def _wake_retries(self, job_id: str) -> None:
        # Retries wait out a backoff; an inline run has no reason to sleep through it.
        with self.queue.db.write() as conn:
            conn.execute(
                tasks.update()
                .where(tasks.c.job_id == job_id, tasks.c.status == "queued")
                .values(run_after=0)
            )

    def output(self, job: JobRecord) -> Pixels:
        with self.objects.readable(job.outputs[0]["key"]) as path:
            return pixels(pyvips.Image.new_from_file(str(path)))


def pixels(image: pyvips.Image) -> Pixels:
    data = image.write_to_memory()
    return np.frombuffer(data, dtype=np.uint8).reshape(image.height, image.width, image.bands)


def psnr(a: Pixels, b: Pixels) -> float:
    assert a.shape == b.shape
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.fixture
def inline(settings: Settings, queue: Queue, objects: ObjectStore) -> Inline:
    return Inline(settings, queue, objects)
