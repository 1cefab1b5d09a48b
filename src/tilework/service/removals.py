"""Deleting on request: a job (an ended job's rows and files go now, as retention would take
them later; a job still queued or running must be canceled first), or everything of a tenant
(an admin's purge: its jobs canceled and deleted, its uploads deleted). Both are audited."""

from __future__ import annotations

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobStatus, JsonDict
from tilework.core.keys import ApiKey
from tilework.objects.tenants import TenantObjects
from tilework.retention.removal import remove_jobs
from tilework.service.cancels import cancel_job
from tilework.service.services import Services
from tilework.store.audit import audit
from tilework.store.counters import add
from tilework.store.retention import EndedJob, tenant_jobs
from tilework.store.uploads import forget_tenant_uploads

PAGE = 100
UPLOADS_FOLDER = "uploads/"


def delete_job(services: Services, key: ApiKey, job_id: str) -> None:
    """Delete the caller's tenant's job ``job_id``; ``not_found`` if it has none such,
    ``job_not_finished`` if it has not ended."""
    job = services.queue.get_job(job_id, key.tenant)
    if job is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    if not job.status.terminal:
        raise TileworkError(
            ErrorCode.JOB_NOT_FINISHED,
            f"job {job_id} is {job.status.value}: cancel it first, then delete it",
            {"id": job_id, "status": job.status.value},
        )
    ended = EndedJob(job.id, job.tenant, frozenset())
    removed = remove_jobs(services.database, services.objects, [ended], "request")
    audit(services.database, key.id, key.tenant, "job.delete", job_id, {"files": removed.files})


def purge_tenant(services: Services, key: ApiKey, tenant: str) -> JsonDict:
    """Cancel the tenant's open jobs (and their remote requests), delete all its jobs and
    uploads; what went."""
    canceled = 0
    for status in (JobStatus.QUEUED, JobStatus.RUNNING):
        while found := services.queue.list_jobs(tenant=tenant, status=status, limit=PAGE):
            for job in found:
                cancel_job(services, job.id, tenant)
            canceled += len(found)
    jobs = files = 0
    while True:
        with services.database.read() as conn:
            batch = tenant_jobs(conn, tenant, PAGE)
        if not batch:
            break
        removed = remove_jobs(services.database, services.objects, batch, "purge")
        jobs, files = jobs + removed.jobs, files + removed.files
    with services.database.write() as conn:
        forget_tenant_uploads(conn, tenant)
    objects = TenantObjects(services.objects, tenant)
    uploads = objects.keys_under(UPLOADS_FOLDER)
    for upload in uploads:
        objects.delete(upload)
    with services.database.write() as conn:
        add(conn, "files_deleted_total", len(uploads), reason="purge")
    purged = {
        "jobs_canceled": canceled,
        "jobs_deleted": jobs,
        "files_deleted": files + len(uploads),
    }
    audit(services.database, key.id, tenant, "tenant.purge", tenant, purged)
    return purged
