"""Removing what retention removes, counted: jobs (their files under ``jobs/<id>/`` first,
then their rows), expired uploads no job names, expired files of Replicate's files API."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from tilework.objects.paths import file_key
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.store.counters import add
from tilework.store.database import Database
from tilework.store.files import FileRecord, Files
from tilework.store.retention import EndedJob, delete_jobs, mark_cleaned
from tilework.store.uploads import StoredUpload, drop_upload


@dataclass(frozen=True)
class Removed:
    jobs: int = 0
    files: int = 0


def job_folder(job_id: str) -> str:
    return f"jobs/{job_id}/"


def remove_jobs(
    database: Database, store: ObjectStore, ended: Sequence[EndedJob], reason: str
) -> Removed:
    """Delete ``ended`` jobs: every file in their folders, then their rows. A file that
    another job or upload shares is never in a job's folder (uploads and files live apart),
    so nothing else loses a file."""
    files = sum(_delete_files(store, job, keep=frozenset()) for job in ended)
    with database.write() as conn:
        jobs = delete_jobs(conn, [job.id for job in ended], reason)
        add(conn, "files_deleted_total", files, reason=reason)
    return Removed(jobs, files)


def clean_intermediates(
    database: Database, store: ObjectStore, succeeded: Sequence[EndedJob]
) -> Removed:
    """Delete what succeeded jobs made on the way (tiles, stage images, earlier steps'
    files): every file in their folders that is not one of their outputs."""
    files = sum(_delete_files(store, job, keep=job.output_keys) for job in succeeded)
    with database.write() as conn:
        mark_cleaned(conn, [job.id for job in succeeded], time.time())
        add(conn, "files_deleted_total", files, reason="intermediate")
    return Removed(0, files)


def _delete_files(store: ObjectStore, job: EndedJob, keep: frozenset[str]) -> int:
    objects = TenantObjects(store, job.tenant)
    doomed = [key for key in objects.keys_under(job_folder(job.id)) if key not in keep]
    for key in doomed:
        objects.delete(key)
    return len(doomed)


def drop_uploads(
    database: Database, store: ObjectStore, expired: Sequence[StoredUpload], now: float
) -> Removed:
    """Delete expired uploads no job names (one at a time: each holds the write while its
    bytes go, against the same bytes being sent again)."""
    dropped = 0
    for upload in expired:
        objects = TenantObjects(store, upload.tenant)
        if drop_upload(database, upload, now, partial(objects.delete, upload.key)):
            dropped += 1
    with database.write() as conn:
        add(conn, "files_deleted_total", dropped, reason="upload_expired")
    return Removed(0, dropped)


def drop_files(database: Database, store: ObjectStore, expired: Sequence[FileRecord]) -> Removed:
    """Delete expired files (Replicate's files API): their rows, and their bytes when no
    other file names them."""
    dropped: list[str] = []  # the bytes that went: no other file named them
    for record in expired:
        objects = TenantObjects(store, record.tenant)
        Files(database).remove(record.tenant, record.id, partial(_drop_bytes, objects, dropped))
    bytes_gone = len(dropped)
    with database.write() as conn:
        add(conn, "files_deleted_total", bytes_gone, reason="file_expired")
    return Removed(0, bytes_gone)


def _drop_bytes(objects: ObjectStore, dropped: list[str], gone: FileRecord) -> None:
    objects.delete(file_key(gone.sha256))
    dropped.append(gone.sha256)
