"""Cancel a job, wherever its work runs: in the queue, and on the provider that runs a request
for it (``predict``, remote tiles), so nothing keeps billing for a job nobody waits on."""

from __future__ import annotations

import structlog

from tilework.core.errors import TileworkError
from tilework.core.jobs import JobRecord, JobStatus
from tilework.remote.clients import RemoteRequest, provider_client
from tilework.service.services import Services

log = structlog.get_logger("tilework.cancel")


def cancel_job(services: Services, job_id: str, tenant: str) -> JobRecord | None:
    """The job after the cancel (None: not the tenant's). A request it waited on elsewhere is
    canceled there too, best effort: the job is canceled whatever the provider answers."""
    job = services.queue.cancel_job(job_id, tenant)
    if job is not None and job.status is JobStatus.CANCELED and job.remote:
        cancel_remote(services, job)
    return job


def cancel_remote(services: Services, job: JobRecord) -> None:
    remote = job.remote or {}
    settings = services.settings
    configured = settings.providers.get(str(remote.get("provider")))
    if configured is None or "request" not in remote:
        return
    try:
        with provider_client(remote["provider"], configured, settings) as client:
            client.cancel(RemoteRequest.from_json(remote["request"]))
    except TileworkError as error:  # already ended there, or the provider is away
        log.warning("remote_cancel_failed", job_id=job.id, error=error.message)
