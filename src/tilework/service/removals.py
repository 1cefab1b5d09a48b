"""Deleting a job on request: an ended job's rows and files go now, as retention would take
them later; a job still queued or running must be canceled first."""

from __future__ import annotations

from tilework.core.errors import ErrorCode, TileworkError
from tilework.retention.removal import remove_jobs
from tilework.service.services import Services
from tilework.store.retention import EndedJob


def delete_job(services: Services, job_id: str, tenant: str) -> None:
    """Delete the tenant's job ``job_id``; ``not_found`` if it has none such,
    ``job_not_finished`` if it has not ended."""
    job = services.queue.get_job(job_id, tenant)
    if job is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    if not job.status.terminal:
        raise TileworkError(
            ErrorCode.JOB_NOT_FINISHED,
            f"job {job_id} is {job.status.value}: cancel it first, then delete it",
            {"id": job_id, "status": job.status.value},
        )
    remove_jobs(
        services.database, services.objects, [EndedJob(job.id, job.tenant, frozenset())], "request"
    )
