"""The retention sweeper: a duty of every worker host, run by one host at a time for all of
them (``store.duties``), every ``sweep_seconds``.

A turn works in batches of ``BATCH``, oldest first, until a batch comes back short: the
intermediate files of jobs that succeeded (tiles, stage images, earlier steps' files); ended
jobs past their retention, files first and rows after; expired uploads no job names; expired
files of Replicate's files API. It never reads, let alone
deletes, a queued or running job. What it removed is logged and counted
(``jobs_deleted_total``, ``files_deleted_total``: ``GET /v1/counters``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import structlog

from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.retention.removal import (
    Removed,
    clean_intermediates,
    drop_files,
    drop_uploads,
    remove_jobs,
)
from tilework.store.database import Database
from tilework.store.duties import InTurns
from tilework.store.files import FileRecord, Files
from tilework.store.histograms import FOLD_BATCH, fold
from tilework.store.retention import EndedJob, expired, uncleaned
from tilework.store.uploads import StoredUpload, expired_uploads

log = structlog.get_logger("tilework.retention")

DUTY = "retention"
BATCH = 100
LEASE_SECONDS = 60.0
POLL_SECONDS = 5.0  # how often a host asks whether the sweep is due
T = TypeVar("T")


class Sweeper(InTurns):
    def __init__(self, settings: Settings, database: Database, store: ObjectStore) -> None:
        poll = min(POLL_SECONDS, settings.sweep_seconds)
        super().__init__(database, DUTY, settings.sweep_seconds, poll, LEASE_SECONDS)
        self.settings = settings
        self.store = store

    def work(self) -> None:
        # Ended jobs' times into the histograms, even where nobody scrapes /metrics.
        while self._fold() == FOLD_BATCH:
            pass
        cleaned = self._batches(lambda now: self._uncleaned(), self._clean)
        removed = self._batches(self._expired, self._remove)
        uploads = self._batches(self._expired_uploads, self._drop_uploads)
        files = self._batches(
            lambda now: Files(self.database).expired(now, BATCH), self._drop_files
        )
        if cleaned.files or removed.jobs or removed.files or uploads.files or files.files:
            log.info(
                "retention_swept",
                jobs_deleted=removed.jobs,
                job_files_deleted=removed.files,
                intermediates_deleted=cleaned.files,
                uploads_deleted=uploads.files,
                files_deleted=files.files,
            )

    def _batches(
        self, find: Callable[[float], list[T]], act: Callable[[Sequence[T]], Removed]
    ) -> Removed:
        jobs = files = 0
        while not self.stopping:
            batch = find(time.time())
            if batch:
                done = act(batch)
                jobs, files = jobs + done.jobs, files + done.files
            if len(batch) < BATCH or not self.extend():
                break
        return Removed(jobs, files)

    def _fold(self) -> int:
        with self.database.write() as conn:
            return fold(conn)

    def _uncleaned(self) -> list[EndedJob]:
        with self.database.read() as conn:
            return uncleaned(conn, BATCH)

    def _expired(self, now: float) -> list[EndedJob]:
        settings = self.settings
        with self.database.read() as conn:
            return expired(
                conn, now, settings.retention_seconds, settings.tenant_retention_seconds, BATCH
            )

    def _clean(self, batch: Sequence[EndedJob]) -> Removed:
        return clean_intermediates(self.database, self.store, batch)

    def _remove(self, batch: Sequence[EndedJob]) -> Removed:
        return remove_jobs(self.database, self.store, batch, "retention")

    def _expired_uploads(self, now: float) -> list[StoredUpload]:
        with self.database.read() as conn:
            return expired_uploads(conn, now, BATCH)

    def _drop_uploads(self, batch: Sequence[StoredUpload]) -> Removed:
        return drop_uploads(self.database, self.store, batch, time.time())

    def _drop_files(self, batch: Sequence[FileRecord]) -> Removed:
        return drop_files(self.database, self.store, batch)
