"""Output uploads: a host-wide bound on how many run at once, and retries on transient errors.

Processing is quick and uploads are slow, so the processing of several
outputs should overlap their uploads, but only a few uploads should share the link at once
(each one slower, memory and 429s growing with their number). The bound is a set of lock files
under the host's home: a task process holds one slot's ``flock`` for the length of its upload.
The kernel drops a lock with its process, so a killed task never leaks a slot.
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog

from tilework.core.errors import TileworkError
from tilework.core.settings import Settings
from tilework.objects.store import ObjectInfo, ObjectStore

log = structlog.get_logger("tilework.uploads")

SLOTS_DIR = "upload-slots"
POLL_SECONDS = 0.01
POLL_MAX_SECONDS = 0.1
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0


@contextmanager
def upload_slot(directory: Path, count: int) -> Iterator[float]:
    """Hold one of ``count`` slots shared by every process using ``directory``; yields the
    seconds spent waiting for it."""
    directory.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pause = POLL_SECONDS
    while True:
        for index in random.sample(range(count), count):  # no slot is everyone's first try
            fd = os.open(directory / f"slot-{index}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield time.monotonic() - started
            finally:
                os.close(fd)  # closing releases the lock
            return
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX_SECONDS)


def upload(objects: ObjectStore, key: str, path: Path, settings: Settings) -> ObjectInfo:
    """Store ``path`` under ``key`` within the host's upload bound, retrying transient failures
    with exponential backoff and jitter."""
    attempts = settings.upload_attempts
    with upload_slot(settings.home / SLOTS_DIR, settings.max_parallel_uploads) as waited:
        if waited >= POLL_SECONDS:
            log.info("upload_slot_waited", key=key, seconds=round(waited, 4))
        for attempt in range(1, attempts):
            try:
                return objects.put_file(key, path)
            except TileworkError as error:
                # A store that already consumed the file cannot be asked again.
                if not error.retryable or not path.exists():
                    raise
                delay = _backoff(attempt)
                log.warning(
                    "upload_retry",
                    key=key,
                    attempt=attempt,
                    delay=round(delay, 3),
                    code=error.code.value,
                    message=error.message,
                )
                time.sleep(delay)
        return objects.put_file(key, path)  # the last try: its failure is the task's


def _backoff(attempt: int) -> float:
    """Full-size steps of 0.5, 1, 2, 4, 8 s, each shortened by up to half at random so
    that tasks failing together do not retry together."""
    step = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return step * random.uniform(0.5, 1.0)
