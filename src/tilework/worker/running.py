"""Inside the child process: turn a claimed task into its operation's run and a ``Reply``."""

from __future__ import annotations

import traceback
from typing import Any

import structlog

from tilework.core.destinations import DELIVER_KIND
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import ClaimedTask, TaskDeferred
from tilework.core.settings import Settings
from tilework.core.sources import FETCH_KIND
from tilework.core.tracing import current_traceparent
from tilework.imaging.decode import harden
from tilework.objects.factory import open_object_store
from tilework.objects.reuse import ReusingObjects
from tilework.objects.store import ObjectStore
from tilework.objects.tenants import TenantObjects
from tilework.ops.base import TaskContext
from tilework.ops.registry import Registry
from tilework.worker.delivery import deliver
from tilework.worker.fetching import fetch_input
from tilework.worker.reply import Reply

log = structlog.get_logger("tilework.task")


class TaskRunner:
    def __init__(self, settings: Settings) -> None:
        harden()
        self.settings = settings
        self.objects = open_object_store(settings)
        self.registry = Registry.load(settings)

    def run(self, claimed: ClaimedTask) -> Reply:
        """Run the task; every line it logs names its job, task and tenant (and the job's
        traceparent, which its provider calls carry too)."""
        ids: dict[str, Any] = {
            "job_id": claimed.task.job_id,
            "task_id": claimed.task.id,
            "tenant": claimed.tenant,
        }
        if claimed.traceparent:
            ids["traceparent"] = claimed.traceparent
        trace = current_traceparent.set(claimed.traceparent)
        try:
            with structlog.contextvars.bound_contextvars(**ids):
                return self._run(claimed)
        finally:
            current_traceparent.reset(trace)

    def _run(self, claimed: ClaimedTask) -> Reply:
        context: TaskContext[Any] | None = None
        try:
            if claimed.task.kind == DELIVER_KIND:
                objects = TenantObjects(self.objects, claimed.tenant)
                return Reply(
                    result=deliver(self.settings, objects, claimed.tenant, claimed.task.payload)
                )
            if claimed.task.kind == FETCH_KIND:
                objects = TenantObjects(self.objects, claimed.tenant)
                return Reply(result=fetch_input(self.settings, objects, self.registry, claimed))
            operation = self.registry.get(claimed.operation)
            context = TaskContext(
                job_id=claimed.task.job_id,
                task=claimed.task,
                params=operation.validate(claimed.params),
                input=claimed.input,
                objects=job_objects(self.objects, claimed),
                settings=self.settings,
                scratch=self.objects.scratch_dir(),
            )
            return Reply(result=operation.run(context), timings=context.timings)
        except TaskDeferred as deferred:
            return Reply(
                deferred={"state": deferred.state, "seconds": deferred.seconds},
                timings=context.timings if context else {},
            )
        except TileworkError as error:
            return Reply.failure(error, context.timings if context else None)
        except Exception as exc:  # an operation's bug must become a task failure, not a crash
            log.error("task_exception", traceback=traceback.format_exc())
            failure = TileworkError(ErrorCode.PIPELINE_ERROR, f"{type(exc).__name__}: {exc}")
            return Reply.failure(failure, context.timings if context else None)


def job_objects(store: ObjectStore, claimed: ClaimedTask) -> ObjectStore:
    """What a task's run sees of storage: its tenant's, read through the jobs a retry
    reuses the files of."""
    objects = TenantObjects(store, claimed.tenant)
    if claimed.reuses:
        return ReusingObjects(objects, claimed.task.job_id, claimed.reuses)
    return objects
