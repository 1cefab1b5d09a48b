"""Conversions between table rows and the core value objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tilework.core.jobs import JobRecord, JobStatus, TaskRecord, TaskStatus
from tilework.core.keys import DEFAULT_TENANT


def job_from_row(row: Any) -> JobRecord:
    return job_from_mapping(row._mapping)


def job_from_mapping(m: Mapping[Any, Any]) -> JobRecord:
    return JobRecord(
        id=m["id"],
        operation=m["operation"],
        status=JobStatus(m["status"]),
        params=m["params"],
        input=m["input"],
        stages=m["stages"],
        stage=m["stage"],
        stage_tasks=m["stage_tasks"],
        stage_remaining=m["stage_remaining"],
        tasks_done=m["tasks_done"],
        attempts=m["attempts"],
        outputs=m["outputs"],
        warnings=m["warnings"],
        timings=m["timings"],
        error_code=m["error_code"],
        error_message=m["error_message"],
        idempotency_key=m["idempotency_key"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        completed_at=m["completed_at"],
        webhook=m.get("webhook"),
        progress_at=m.get("progress_at"),
        tenant=m.get("tenant") or DEFAULT_TENANT,
        key_id=m.get("key_id"),
        deadline=m.get("deadline"),
        result=m.get("result"),
        remote=m.get("remote"),
        delivery=m.get("delivery"),
        priority=m.get("priority") or 0,
        run_at=m.get("run_at"),
        retry_of=m.get("retry_of"),
        retried_by=m.get("retried_by"),
        reuses=tuple(m.get("reuses") or ()),
        cached_from=m.get("cached_from"),
        cache_key=m.get("cache_key"),
        traceparent=m.get("traceparent"),
    )


def task_from_row(row: Any) -> TaskRecord:
    m = row._mapping
    return TaskRecord(
        id=m["id"],
        job_id=m["job_id"],
        stage=m["stage"],
        index=m["position"],
        kind=m["kind"],
        payload=m["payload"],
        status=TaskStatus(m["status"]),
        attempts=m["attempts"],
        max_attempts=m["max_attempts"],
        result=m["result"],
        error_code=m["error_code"],
        error_message=m["error_message"],
        timeout_seconds=m["timeout_seconds"],
    )
