"""Turn job records and their events into API bodies: ISO times, progress, fresh signed
output URLs (a late webhook retry carries URLs that still work)."""

from __future__ import annotations

from datetime import UTC, datetime

from tilework.api import schemas
from tilework.api.state import ApiState
from tilework.core.jobs import JobRecord, job_progress
from tilework.store.deliveries import Delivery
from tilework.store.events import JobEvent


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def job_body(state: ApiState, job: JobRecord) -> schemas.Job:
    progress = job_progress(job)
    base_url, url_seconds = state.settings.resolved_public_url, state.settings.signed_url_seconds
    objects = state.objects_for(job.tenant)
    outputs = [
        schemas.Output(**output, url=objects.url(output["key"], url_seconds))
        for output in job.outputs
    ]
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
    )


def event_body(state: ApiState, event: JobEvent) -> schemas.JobEvent:
    return schemas.JobEvent(
        type=f"job.{event.type.value}",
        event_id=event.id,
        timestamp=iso(event.created_at) or "",
        data=job_body(state, event.job),
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
