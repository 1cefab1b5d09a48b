"""Cancel a job, wherever its work runs: in the queue, and on the provider that runs a request
for it (``predict``, remote tiles), so nothing keeps billing for a job nobody waits on."""

from __future__ import annotations

from tilework.core.jobs import JobRecord, JobStatus
from tilework.remote.clients import cancel_recorded
from tilework.service.services import Services


def cancel_job(services: Services, job_id: str, tenant: str) -> JobRecord | None:
    """The job after the cancel (None: not the tenant's). A request it waited on elsewhere is
    canceled there too, best effort: the job is canceled whatever the provider answers."""
    job = services.queue.cancel_job(job_id, tenant)
    if job is not None and job.status is JobStatus.CANCELED and job.remote:
        cancel_recorded(services.settings, job.remote, job.id)
    return job
