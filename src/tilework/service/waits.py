"""Waiting for a job to end, within a time limit: the answer to a submit that would rather
have the finished job than poll for it. The job is queued and run exactly as any other; only
the answer waits."""

from __future__ import annotations

import asyncio
import time

import anyio.to_thread

from tilework.core.jobs import JobRecord
from tilework.queue import JobReads

# Polling the job row: quick jobs are seen within milliseconds, long waits cost few reads.
FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.005, 0.25


async def finished_within(jobs: JobReads, job: JobRecord, seconds: float) -> JobRecord:
    """The job once it has ended, or as it stands after ``seconds``."""
    deadline = time.monotonic() + seconds
    pause = FIRST_POLL_SECONDS
    while not job.status.terminal:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, MAX_POLL_SECONDS)
        current = await anyio.to_thread.run_sync(jobs.get_job, job.id)
        if current is None:  # deleted meanwhile: answer with what was submitted
            break
        job = current
    return job
