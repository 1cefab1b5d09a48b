"""Turn job records and their events into API bodies: ISO times, progress, fresh signed
output URLs (a late webhook retry carries URLs that still work)."""

from __future__ import annotations

from datetime import UTC, datetime

from tilework.api.v1 import schemas
from tilework.core.jobs import JobRecord, job_progress, with_output_urls
from tilework.core.settings import Settings
from tilework.service.links import OutputLinks
from tilework.store.deliveries import Delivery
from tilework.store.events import JobEvent


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def job_body(settings: Settings, links: OutputLinks, job: JobRecord) -> schemas.Job:
    """``links``: where each output is read (here, or the destination it was delivered to)."""
    progress = job_progress(job)
    base_url = settings.resolved_public_url
    outputs = [
        schemas.Output(**output, url=links.url(job.tenant, output)) for output in job.outputs
    ]
    result = with_output_urls(job.result, [output.url for output in outputs])
    error = (
        schemas.JobError(code=job.error_code, message=job.error_message or "")
        if job.error_code
        else None
    )
    return schemas.Job(
        id=job.id,
        operation=job.operation,
        status=job.status,
        params=job.params,
        input=job.input,
        progress=schemas.Progress(
            percent=progress.percent,
            stage=progress.stage,
            stages=progress.stages,
            done=progress.done,
            total=progress.total,
        ),
        outputs=outputs,
        warnings=job.warnings,
        error=error,
        attempts=job.attempts,
        created_at=iso(job.created_at) or "",
        started_at=iso(job.started_at),
        completed_at=iso(job.completed_at),
        timings=job.timings,
        urls=schemas.JobUrls(
            get=f"{base_url}/v1/jobs/{job.id}", cancel=f"{base_url}/v1/jobs/{job.id}/cancel"
        ),
        result=result,
        priority=job.priority,
        run_at=iso(job.run_at),
        deadline=iso(job.deadline),
        remote=schemas.RemoteRequest(**job.remote) if job.remote else None,
        retry_of=job.retry_of,
        retried_by=job.retried_by,
        cached_from=job.cached_from,
    )


def event_body(settings: Settings, links: OutputLinks, event: JobEvent) -> schemas.JobEvent:
    return schemas.JobEvent(
        type=f"job.{event.type.value}",
        event_id=event.id,
        timestamp=iso(event.created_at) or "",
        data=job_body(settings, links, event.job),
    )


def delivery_body(delivery: Delivery) -> schemas.Delivery:
    return schemas.Delivery(
        id=delivery.id,
        event=delivery.event,
        event_id=delivery.event_id,
        url=delivery.url,
        status=delivery.status.value,
        attempts=delivery.attempts,
        attempts_log=[
            schemas.DeliveryAttempt(
                **{
                    **entry,
                    "at": iso(entry["at"]),
                    "next_attempt_at": iso(entry["next_attempt_at"]),
                }
            )
            for entry in delivery.log
        ],
        next_attempt_at=iso(delivery.next_attempt_at) if delivery.completed_at is None else None,
        created_at=iso(delivery.created_at) or "",
        completed_at=iso(delivery.completed_at),
    )
