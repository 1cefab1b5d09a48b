"""Removing what retention removes, counted: jobs (their files under ``jobs/<id>/`` first,
then their rows), expired uploads no job names, expired files of Replicate's files API."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from tilework.objects.paths import file_key, job_folder
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.store.counters import add
from tilework.store.database import Database
from tilework.store.files import FileRecord, Files
from tilework.store.objectrefs import (
    Used,
    drop_refs,
    gone_owners,
    mark_removing,
    refer,
    used_by_others,
)
from tilework.store.retention import EndedJob, delete_jobs, mark_cleaned
from tilework.store.uploads import StoredUpload, drop_upload


@dataclass(frozen=True)
class Removed:
    jobs: int = 0
    files: int = 0


def remove_jobs(
    database: Database, store: ObjectStore, ended: Sequence[EndedJob], reason: str
) -> Removed:
    """Delete ``ended`` jobs: the files in their folders that no other job uses, then their
    rows; then the files of jobs already gone that only these used. Uploads and Replicate's
    files live apart from jobs' folders, so no upload loses a file."""
    ids = [job.id for job in ended]
    with database.write() as conn:
        # From here on no retry or cache hit starts using their files.
        mark_removing(conn, ids)
        used = {job.id: used_by_others(conn, job.tenant, job.id) for job in ended}
    files = sum(_delete_files(store, job.tenant, job.id, used[job.id]) for job in ended)
    with database.write() as conn:
        dropped = drop_refs(conn, ids)
        jobs = delete_jobs(conn, ids, reason)
    # Looked at only once the rows are gone (see ``store.objectrefs``): what these kept for
    # others that nobody uses now, and what others kept that only these used.
    files += _delete_leftovers(
        database, store, dropped + [(job.tenant, job_folder(job.id)) for job in ended]
    )
    with database.write() as conn:
        add(conn, "files_deleted_total", files, reason=reason)
    return Removed(jobs, files)


def clean_intermediates(
    database: Database, store: ObjectStore, succeeded: Sequence[EndedJob]
) -> Removed:
    """Delete what succeeded jobs made on the way (tiles, stage images, earlier steps'
    files): every file in their folders that is neither one of their outputs nor used by
    another job; and stop using other jobs' files that are not their outputs (a retry's)."""
    with database.write() as conn:
        used = {job.id: used_by_others(conn, job.tenant, job.id) for job in succeeded}
    files = sum(
        _delete_files(store, job.tenant, job.id, used[job.id], keep=job.output_keys)
        for job in succeeded
    )
    with database.write() as conn:
        dropped: list[tuple[str, str]] = []
        for job in succeeded:
            mine = drop_refs(conn, [job.id], keep=job.output_keys)
            # Outputs in a folder it used whole (a retry that failed at its delivery): each
            # now used by itself, as a cache hit's are.
            refer(conn, job.id, job.tenant, _outside(job, [prefix for _, prefix in mine]))
            dropped += mine
        mark_cleaned(conn, [job.id for job in succeeded], time.time())
    files += _delete_leftovers(database, store, dropped)
    with database.write() as conn:
        add(conn, "files_deleted_total", files, reason="intermediate")
    return Removed(0, files)


def _outside(job: EndedJob, folders: Sequence[str]) -> list[str]:
    """``job``'s outputs that lie in one of ``folders``."""
    return [
        key
        for key in job.output_keys
        if any(folder.endswith("/") and key.startswith(folder) for folder in folders)
    ]


def _delete_leftovers(
    database: Database, store: ObjectStore, candidates: Sequence[tuple[str, str]]
) -> int:
    """Delete what is left in the folders of jobs already gone, but what is still used."""
    with database.read() as conn:
        owners = gone_owners(conn, candidates)
    return sum(_delete_files(store, tenant, owner, used) for tenant, owner, used in owners)


def _delete_files(
    store: ObjectStore,
    tenant: str,
    job_id: str,
    used: Used,
    keep: frozenset[str] = frozenset(),
) -> int:
    if used.whole:
        return 0
    objects = TenantObjects(store, tenant)
    doomed = [
        key
        for key in objects.keys_under(job_folder(job_id))
        if key not in keep and not used.covers(key)
    ]
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
