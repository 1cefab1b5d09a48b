"""Turn job records into API bodies: ISO times, progress, fresh signed output URLs."""

from __future__ import annotations

from datetime import UTC, datetime

from tilework.api import schemas
from tilework.core.jobs import JobRecord, job_progress
from tilework.objects.store import ObjectStore


def iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def job_body(job: JobRecord, objects: ObjectStore, base_url: str, url_seconds: int) -> schemas.Job:
    progress = job_progress(job)
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
