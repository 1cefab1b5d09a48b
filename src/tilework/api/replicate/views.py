"""Jobs as Replicate shows predictions, and errors as Replicate words them."""

from __future__ import annotations

from typing import Any

from tilework.api.replicate.translate import OWNER
from tilework.api.v1.bodies import iso
from tilework.core.jobs import EventType, JobRecord, JobStatus, job_progress, with_output_urls
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.store.events import JobEvent

STATUS = {JobStatus.QUEUED: "starting", JobStatus.RUNNING: "processing"}


def prediction_body(
    settings: Settings, objects: ObjectStore, job: JobRecord, events: list[JobEvent] | None
) -> dict[str, Any]:
    """A job as Replicate shows a prediction; ``events`` make its ``logs`` (None: no logs).
    ``objects``: the whole store; the job's files are under its tenant's prefix."""
    base = f"{settings.resolved_public_url}/v1"
    seconds = settings.signed_url_seconds
    tenant_objects = TenantObjects(objects, job.tenant)
    urls = [tenant_objects.url(output["key"], seconds) for output in job.outputs]
    output: Any = None
    if job.status is JobStatus.SUCCEEDED and job.result is not None:
        output = with_output_urls(job.result, urls)  # a hosted model's answer, as it gave it
    elif job.status is JobStatus.SUCCEEDED:
        output = urls[0] if len(urls) == 1 else urls
    metrics = {}
    if job.started_at is not None and job.completed_at is not None:
        metrics["predict_time"] = round(job.completed_at - job.started_at, 4)
    return {
        "id": job.id,
        "model": f"{OWNER}/{job.operation}",
        "version": job.operation,
        "input": _prediction_input(seconds, tenant_objects, job),
        "output": output,
        "logs": None if events is None else "".join(_log_line(event) for event in events),
        "error": job.error_message if job.status is JobStatus.FAILED else None,
        "status": STATUS.get(job.status, job.status.value),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "data_removed": False,
        "deadline": iso(job.deadline),
        "source": "api",
        # As Replicate shows it: a caller finds its own prediction by it after a crash.
        "webhook": (job.webhook or {}).get("url")
        if (job.webhook or {}).get("format") == "replicate"
        else None,
        "metrics": metrics,
        "urls": {
            "get": f"{base}/predictions/{job.id}",
            "cancel": f"{base}/predictions/{job.id}/cancel",
            "stream": f"{base}/jobs/{job.id}/events",
        },
    }


def _prediction_input(seconds: int, objects: ObjectStore, job: JobRecord) -> dict[str, Any]:
    source = job.input
    if not source:  # a job without an input image (predict)
        return dict(job.params)
    image = source.get("url") or objects.url(source["key"], seconds)
    return {"image": image, **job.params}


def _log_line(event: JobEvent) -> str:
    progress = job_progress(event.job)
    if event.type is EventType.PROGRESS:
        return (
            f"{iso(event.created_at)} {progress.percent:g}% {progress.stage or ''} "
            f"({progress.done}/{progress.total})\n"
        )
    if event.type is EventType.FAILED:
        return f"{iso(event.created_at)} failed: {event.job.error_message}\n"
    return f"{iso(event.created_at)} {event.type.value}\n"
