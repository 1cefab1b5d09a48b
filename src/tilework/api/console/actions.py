"""What the console's buttons do: cancel, retry, send a webhook again, and the same cancel or
retry for everything a filter matches, worked through in the background (``BulkRunner``).
Each is written to the audit log under the key that asked."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import structlog

from tilework.core.errors import TileworkError
from tilework.core.jobs import JobRecord, JobStatus
from tilework.core.keys import ApiKey
from tilework.service.cancels import cancel_job
from tilework.service.retries import retry
from tilework.service.services import Services
from tilework.store.audit import audit
from tilework.store.console import (
    DONE,
    FAILED,
    BulkAction,
    bulk_progress,
    count_matching,
    matching_ids,
    send_again,
    start_bulk,
)
from tilework.store.schema import jobs

log = structlog.get_logger("tilework.console")

BULK_BATCH = 50
CANCEL, RETRY = "cancel", "retry"
BULK_ACTIONS = (CANCEL, RETRY)


def as_owner(key: ApiKey, job: JobRecord) -> ApiKey:
    """The key acting on ``job``: itself, or for an admin's cross-tenant action the same key
    seen from the job's tenant (a retry is then that tenant's job, made by the admin)."""
    return key if key.tenant == job.tenant else replace(key, tenant=job.tenant)


def cancel(services: Services, key: ApiKey, job: JobRecord) -> bool:
    """Whether it was open and is now canceled."""
    ended = cancel_job(services, job.id, job.tenant)
    changed = ended is not None and not job.status.terminal
    audit(services.database, key.id, job.tenant, "console.cancel", job.id, {"changed": changed})
    return changed


def retry_job(services: Services, key: ApiKey, job: JobRecord) -> JobRecord:
    """The retry (new, or the one it already had); raises ``job_not_retryable``."""
    made, created = retry(services, as_owner(key, job), job.id)
    audit(
        services.database,
        key.id,
        job.tenant,
        "console.retry",
        job.id,
        {"retry": made.id, "created": created},
    )
    return made


def resend(services: Services, key: ApiKey, job: JobRecord, delivery_id: str) -> bool:
    queued = send_again(services.database, job.id, delivery_id)
    audit(
        services.database,
        key.id,
        job.tenant,
        "console.send_again",
        job.id,
        {"delivery": delivery_id, "queued": queued},
    )
    return queued


class BulkRunner:
    """Bulk actions on threads of the API process, their progress in ``bulk_actions``. The
    jobs acted on are those matching when it started (ids up to the newest then): its own
    retries, made as it goes, are never acted on again."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._threads: list[threading.Thread] = []

    def start(
        self,
        key: ApiKey,
        tenant: str | None,
        action: str,
        filter: dict[str, str],
        conditions: Sequence[Any],
    ) -> BulkAction:
        database = self.services.database
        newest = matching_ids(database, conditions, None, 1, newest_first=True)
        bounded = [*conditions, jobs.c.id <= newest[0]] if newest else list(conditions)
        total = count_matching(database, bounded) if newest else 0
        bulk = start_bulk(database, key.id, tenant, action, filter, total)
        audit(
            database,
            key.id,
            tenant or "*",
            f"console.bulk_{action}",
            bulk.id,
            {"filter": filter, "total": total},
        )
        thread = threading.Thread(
            target=self._run, args=(key, bulk, bounded), name=f"bulk-{bulk.id}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return bulk

    def _run(self, key: ApiKey, bulk: BulkAction, conditions: Sequence[Any]) -> None:
        database = self.services.database
        done = skipped = 0
        after: str | None = None
        try:
            while ids := matching_ids(database, conditions, after, BULK_BATCH):
                for job_id in ids:
                    if self._act(key, bulk.action, job_id):
                        done += 1
                    else:
                        skipped += 1
                after = ids[-1]
                bulk_progress(database, bulk.id, done, skipped)
            bulk_progress(database, bulk.id, done, skipped, DONE)
            log.info(
                "bulk_action_done", bulk=bulk.id, action=bulk.action, done=done, skipped=skipped
            )
        except Exception as exc:  # the row says so; the API goes on
            log.error("bulk_action_failed", bulk=bulk.id, error=repr(exc), exc_info=exc)
            bulk_progress(database, bulk.id, done, skipped, FAILED, repr(exc)[:500])

    def _act(self, key: ApiKey, action: str, job_id: str) -> bool:
        job = self.services.queue.get_job(job_id)
        if job is None:
            return False
        if action == CANCEL:
            if job.status.terminal:
                return False
            ended = cancel_job(self.services, job.id, job.tenant)
            return ended is not None and ended.status is JobStatus.CANCELED
        if job.retried_by is not None:
            return False
        try:
            retry(self.services, as_owner(key, job), job.id)
        except TileworkError:  # not retryable (open, succeeded), or out of credits
            return False
        return True

    def join(self, seconds: float) -> None:
        for thread in self._threads:
            thread.join(seconds)
