"""Jobs made straight in the queue, below the API, and the worker that holds their tasks."""

from __future__ import annotations

from typing import Any

from tilework.core.jobs import NewJob
from tilework.queue.sql import SqlQueue

WORKER = "host:1"
LEASE = 30.0


def noop_job(tasks: int = 1, stages: int = 1, key: str | None = None, digest: str = "h") -> NewJob:
    return NewJob(
        operation="noop",
        params={"tasks": tasks, "stages": stages, "sleep_ms": 0},
        input={"key": "uploads/x"},
        stages=[f"stage{n + 1}" for n in range(stages)],
        idempotency_key=key,
        request_hash=digest,
    )


def submit(queue: SqlQueue, operation: str, **params: Any) -> str:
    """A job of ``operation`` straight into the queue (its params unchecked), by id."""
    new = NewJob(operation, params, {"key": "uploads/none"}, [operation])
    return queue.create_job(new)[0].id
