"""The stitch streams: a 164-megapixel PNG (469 MiB of pixels) is blended from 25 stored tiles
and encoded by the real stitch task in a real task process whose peak memory stays a fraction
of the output. Tiles are made with lanczos (``tests/support/stitchops.py``); a network would
take many minutes here to make the same tiles."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.images import natural_photo
from tests.support.memory import MiB, measured, task_processes
from tests.support.stitchops import STITCH_PLUGIN
from tests.support.workers import ended, wait_for, working
from tests.worker.upscale.harness import Inline
from tilework.core.jobs import JobStatus, NewJob
from tilework.core.settings import Settings
from tilework.ops.upscale.operation import STITCH
from tilework.queue.sql import SqlQueue
from tilework.worker.executor import Executor

SIDE, SCALE, TILE = 400, 32, 80  # 12 800² out, 5 × 5 tiles of about 3 000² each
OUTPUT_BYTES = (SIDE * SCALE) ** 2 * 3
# The task process's peak while it stitches, imports and all (under coverage). Measured here:
# 212 MiB; a stitch that held the output would need its 469 MiB on top of the imports.
PEAK_BYTES = 256 * MiB


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"plugins": [*settings.plugins, STITCH_PLUGIN], "task_timeout": 300}
    )


def test_the_stitch_streams_an_output_no_process_may_hold(
    settings: Settings, inline: Inline, queue: SqlQueue, tmp_path: Path
) -> None:
    key = inline.upload(natural_photo(tmp_path / "photo.png", SIDE, SIDE))
    operation = inline.registry.get("test_lanczos_tiles")
    params = operation.validate({"scale": SCALE, "tile": TILE, "format": "png"})
    new = NewJob(operation.name, params.model_dump(mode="json"), {"key": key}, ["x"])
    with working(settings, queue, Executor(settings)):
        deadline = time.monotonic() + 30
        while not (workers := task_processes(os.getpid())) and time.monotonic() < deadline:
            time.sleep(0.05)
        job_id = queue.create_job(new)[0].id
        # Measured from the stitch stage on: the tiles are made by this test's lanczos stand-in.
        wait_for(queue, job_id, lambda j: j.stage >= STITCH or j.status.terminal, timeout=240)
        with measured(workers) as growth:
            job = wait_for(queue, job_id, ended, timeout=240)
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    (output,) = job.outputs
    assert (output["width"], output["height"]) == (SIDE * SCALE, SIDE * SCALE)
    assert not growth.gone
    assert growth.largest < PEAK_BYTES < OUTPUT_BYTES, f"peaked at {growth.largest // MiB} MiB"
