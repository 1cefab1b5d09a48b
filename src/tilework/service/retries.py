"""Retrying a failed or canceled job as a new one (``queue.sql.retries`` does the rows)."""

from __future__ import annotations

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.keys import ApiKey
from tilework.service.services import Services
from tilework.service.submit import price
from tilework.service.submitter import Outcome


def retry(services: Services, key: ApiKey, job_id: str) -> Outcome:
    """The retry of the caller's tenant's job ``job_id`` and whether it is new. A key that
    counts credits reserves the job's price again: its failed run charged nothing, so what
    is left to pay is all of it, once."""
    job = services.queue.get_job(job_id, key.tenant)
    if job is None:
        raise TileworkError(ErrorCode.NOT_FOUND, f"no job {job_id}", {"id": job_id})
    cost = 0.0
    if key.credits is not None:
        operation = services.registry.get(job.operation)
        valid = operation.validate(job.params)
        objects = services.objects_for(key.tenant)
        cost = price(operation, valid, job.input, objects, services.settings)
    return services.queue.retry_job(job_id, key.tenant, key.id, cost)
