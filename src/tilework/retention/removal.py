"""Removing jobs: their files under ``jobs/<id>/`` first, then their rows, counted."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.store.counters import add
from tilework.store.database import Database
from tilework.store.retention import EndedJob, delete_jobs, mark_cleaned


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
