"""What the API and the workers need of a queue, whatever stores it.

``tilework.queue.sql`` implements it on SQLite and PostgreSQL; the conformance tests in
``tests/store`` run against every implementation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tilework.core.errors import TileworkError
from tilework.core.jobs import ClaimedTask, JobRecord, JobStatus, NewJob, TaskRecord

Outcome = tuple[JobRecord, bool] | TileworkError  # (the job, whether it is new), or its refusal


@dataclass(frozen=True)
class Completion:
    """A task's successful outcome, reported with others in one transaction."""

    task_id: int
    result: dict[str, Any]
    timings: dict[str, float]


@dataclass(frozen=True)
class TenantQueue:
    """One tenant's share of the queue now: tasks waiting (due or scheduled) and running,
    and when its oldest waiting task was queued (None when none waits)."""

    tenant: str
    queued: int
    running: int
    oldest_queued_at: float | None


class JobReads(Protocol):
    def get_job(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        """The job, if it exists and (when ``tenant`` is given) is that tenant's."""
        ...

    def list_jobs(
        self,
        *,
        tenant: str | None = None,
        status: JobStatus | None = None,
        operation: str | None = None,
        limit: int = 50,
        before: str | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> list[JobRecord]:
        """Newest first; ``before`` is the id of the last job of the previous page;
        ``created_after`` (inclusive) and ``created_before`` (exclusive), unix seconds."""
        ...

    def queue_position(self, job: JobRecord) -> int:
        """How many queued jobs were submitted before ``job`` (0: it is next); 0 for a job
        that is not queued."""
        ...

    def job_tasks(self, job_id: str) -> list[TaskRecord]: ...

    def task(self, task_id: int) -> TaskRecord | None: ...

    def tenant_queues(self) -> list[TenantQueue]:
        """Each tenant with open tasks, by tenant."""
        ...


class Admission(Protocol):
    def create_job(self, new: NewJob) -> tuple[JobRecord, bool]:
        """Insert a job and its first stage's tasks; returns (job, created). A repeated
        idempotency key with the same request hash returns the existing job."""
        ...

    def create_jobs(self, batch: Sequence[NewJob]) -> list[Outcome]:
        """Insert many jobs in one write transaction (group commit); one outcome per job. A job
        refused on its own (queue full, idempotency conflict) does not hold back the others."""
        ...

    def retry_job(
        self, job_id: str, tenant: str, key_id: str | None, cost: float
    ) -> tuple[JobRecord, bool]:
        """A new job that picks up the tenant's failed or canceled job ``job_id`` where it
        stopped, reserving ``cost`` from ``key_id``; the retry it has if retried already
        (and False). Raises ``not_found``, ``job_not_retryable``, ``insufficient_credits``."""
        ...

    def cancel_job(self, job_id: str, tenant: str | None = None) -> JobRecord | None:
        """End a job that has not ended; its running tasks are abandoned at their next
        heartbeat. None: no such job (of that tenant)."""
        ...


class TaskLeases(Protocol):
    """The worker's side: tasks claimed with a lease, kept by heartbeats, ended by outcomes."""

    def claim(self, worker_id: str, limit: int, lease_seconds: float) -> list[ClaimedTask]:
        """Take up to ``limit`` due tasks, oldest first, leased to ``worker_id``."""
        ...

    def heartbeat(self, task_ids: Iterable[int], worker_id: str, lease_seconds: float) -> set[int]:
        """Extend the leases; returns the ids still this worker's (not canceled, not lost)."""
        ...

    def complete(
        self, task_id: int, worker_id: str, result: dict[str, Any], timings: dict[str, float]
    ) -> bool: ...

    def complete_many(self, worker_id: str, done: Sequence[Completion]) -> set[int]:
        """Record successes; returns the ids that were still this worker's."""
        ...

    def fail(self, task_id: int, worker_id: str, error: TileworkError) -> bool:
        """Record a failed attempt: retry later if allowed, else substitute or fail the job."""
        ...

    def defer(
        self,
        task_id: int,
        worker_id: str,
        state: dict[str, Any],
        seconds: float,
        timings: dict[str, float] | None = None,
    ) -> bool:
        """Put a held task back to run after ``seconds`` (or when woken), keeping ``state``."""
        ...

    def wake(self, task_id: int) -> bool:
        """Make a deferred task due now. False: no such open task."""
        ...

    def release(self, task_ids: Iterable[int], worker_id: str) -> int:
        """Give held tasks back untouched (shutdown): the attempt does not count."""
        ...

    def recover_expired(self, limit: int = 100) -> int:
        """Requeue tasks whose worker stopped heartbeating; fail those out of attempts."""
        ...

    def cancel_overdue(self, limit: int = 100) -> list[JobRecord]:
        """Cancel open jobs whose deadline has passed; the jobs canceled."""
        ...

    def has_work(self, within_seconds: float) -> bool:
        """Whether a task is running, or queued and due within ``within_seconds``."""
        ...


class Queue(JobReads, Admission, TaskLeases, Protocol):
    """Everything at once: what a host that both serves and works holds."""
