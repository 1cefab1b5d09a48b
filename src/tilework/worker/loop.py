"""One worker: claim a task, run it in the child, heartbeat meanwhile, report the outcome."""

from __future__ import annotations

import os
import socket
import time

import structlog

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import ClaimedTask
from tilework.core.settings import Settings
from tilework.store.queue import Queue
from tilework.worker.executor import Executor
from tilework.worker.reply import Reply

log = structlog.get_logger("tilework.worker")

POLL_MIN_SECONDS = 0.01
WAIT_SLICE_SECONDS = 0.5  # how often a waiting worker looks up from its child's pipe
ERROR_BACKOFF_MAX_SECONDS = 5.0


class Worker:
    def __init__(
        self, settings: Settings, queue: Queue, executor: Executor, index: int = 0
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.executor = executor
        # Unique across hosts, processes and the worker threads of one process.
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{index}"
        self._drain_until: float | None = None
        self._next_sweep = 0.0

    def stop(self) -> None:
        """Stop claiming; the running task may finish within ``drain_seconds``. Twice: at once."""
        now = time.monotonic()
        self._drain_until = (
            now if self._drain_until is not None else now + self.settings.drain_seconds
        )

    def run(self) -> None:
        log.info("worker_started", worker_id=self.worker_id)
        self.executor.ensure_started()
        idle = POLL_MIN_SECONDS
        while self._drain_until is None:
            try:
                claimed = self._claim()
            except Exception as exc:  # the database may be briefly away; never die for that
                log.warning("claim_failed", worker_id=self.worker_id, error=str(exc))
                time.sleep(ERROR_BACKOFF_MAX_SECONDS)
                continue
            if claimed is None:
                time.sleep(idle)
                idle = min(idle * 2, self.settings.poll_max_seconds)
                continue
            idle = POLL_MIN_SECONDS
            self._process(claimed)
        self.executor.close()
        log.info("worker_stopped", worker_id=self.worker_id)

    def _claim(self) -> ClaimedTask | None:
        if time.monotonic() >= self._next_sweep:
            if recovered := self.queue.recover_expired():
                log.warning("tasks_recovered", count=recovered)
            self._next_sweep = time.monotonic() + self.settings.lease_seconds / 2
        claimed = self.queue.claim(self.worker_id, 1, self.settings.lease_seconds)
        return claimed[0] if claimed else None

    def _process(self, claimed: ClaimedTask) -> None:
        task = claimed.task
        bound = log.bind(job_id=task.job_id, task_id=task.id, kind=task.kind, attempt=task.attempts)
        started = time.monotonic()
        bound.info("task_started", operation=claimed.operation)
        self.executor.submit(claimed)
        reply = self._supervise(claimed)
        elapsed = round(time.monotonic() - started, 4)
        if reply is None:
            return
        if reply.result is not None:
            self.queue.complete(task.id, self.worker_id, reply.result, reply.timings)
            bound.info("task_succeeded", elapsed=elapsed)
        else:
            error = reply.error()
            self.queue.fail(task.id, self.worker_id, error)
            bound.warning(
                "task_failed",
                elapsed=elapsed,
                code=error.code.value,
                message=error.message,
                retryable=error.retryable,
            )

    def _supervise(self, claimed: ClaimedTask) -> Reply | None:
        """Wait for the child's reply, heartbeating; None when the task was given up."""
        task = claimed.task
        interval = self.settings.lease_seconds / 3
        deadline = time.monotonic() + self.settings.task_timeout
        next_beat = time.monotonic() + interval
        while True:
            now = time.monotonic()
            reply = self.executor.wait(
                max(0.0, min(WAIT_SLICE_SECONDS, next_beat - now, deadline - now))
            )
            if reply is not None:
                return reply
            now = time.monotonic()
            if self._drain_until is not None and now >= self._drain_until:
                self.executor.kill()
                self.queue.release(task.id, self.worker_id)
                log.info("task_released", job_id=task.job_id, task_id=task.id)
                return None
            if now >= deadline:
                self.executor.kill()
                return Reply.failure(
                    TileworkError(
                        ErrorCode.TIMEOUT,
                        f"the task ran longer than {self.settings.task_timeout:g} s",
                    )
                )
            if now >= next_beat:
                if not self.queue.heartbeat(task.id, self.worker_id, self.settings.lease_seconds):
                    self.executor.kill()
                    log.info("task_abandoned", job_id=task.job_id, task_id=task.id)
                    return None
                next_beat = now + interval
