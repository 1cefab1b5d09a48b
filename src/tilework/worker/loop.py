"""One worker: claim tasks, run them in the child, heartbeat meanwhile, report the outcomes.

A worker claims as many tasks as it expects to finish in about ``BATCH_SECONDS`` (one, for
image work; up to ``claim_batch`` for tiny tasks) and reports their successes in one
transaction. Every task it holds, run or waiting its turn, keeps its lease through heartbeats.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import structlog

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.ids import holder_id
from tilework.core.jobs import ClaimedTask
from tilework.core.settings import Settings
from tilework.queue import Completion, Queue
from tilework.store.notify import IDLE_SECONDS, Polling, TaskSignal
from tilework.worker.executor import TaskExecutor
from tilework.worker.reply import Reply

log = structlog.get_logger("tilework.worker")

POLL_MIN_SECONDS = 0.01
WAIT_SLICE_SECONDS = 0.5  # how often a waiting worker looks up from its child's pipe
BATCH_SECONDS = 0.1  # how much work one claim takes on, judged from recent tasks
REPORT_SECONDS = 0.25  # successes wait at most this long to be reported together
ERROR_BACKOFF_MIN_SECONDS = 0.5
ERROR_BACKOFF_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class _Done:
    completion: Completion
    log: Any
    elapsed: float


class Worker:
    def __init__(
        self,
        settings: Settings,
        queue: Queue,
        executor: TaskExecutor,
        index: int = 0,
        signal: TaskSignal | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.executor = executor
        self.signal = signal or Polling()
        # Unique across hosts, processes and the worker threads of one process.
        self.worker_id = holder_id(str(index))
        self._drain_until: float | None = None
        self._next_sweep = 0.0
        self._batch = 1
        self._held: set[int] = set()  # claimed and not yet reported
        self._ahead: tuple[int, int] | None = None  # (task, child generation) sent ahead
        self._next_beat = 0.0

    def stop(self) -> None:
        """Stop claiming; the running task may finish within ``drain_seconds``. Twice: at once."""
        now = time.monotonic()
        self._drain_until = (
            now if self._drain_until is not None else now + self.settings.drain_seconds
        )
        self.signal.wake()

    def run(self, until_idle: bool = False) -> None:
        """Claim and run tasks until stopped. With ``until_idle`` (a burst), stop also once no
        task is running and none is due within ``poll_max_seconds``."""
        log.info("worker_started", worker_id=self.worker_id)
        self.executor.ensure_started()
        idle = POLL_MIN_SECONDS
        backoff = ERROR_BACKOFF_MIN_SECONDS
        while self._drain_until is None:
            # Before looking: a wake while the claim runs (tasks committed, a stop) then cuts
            # the wait below short instead of being lost.
            seen = self.signal.mark()
            try:
                batch = self._claim()
            except Exception as exc:  # the database may be away for a while; never die for that
                log.warning("claim_failed", worker_id=self.worker_id, error=str(exc)[:300])
                time.sleep(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX_SECONDS)
                continue
            backoff = ERROR_BACKOFF_MIN_SECONDS
            if not batch:
                if until_idle and not self.queue.has_work(self.settings.poll_max_seconds):
                    break
                if self.signal.listening:
                    self.signal.wait(IDLE_SECONDS, seen)
                else:
                    self.signal.wait(idle, seen)
                    idle = min(idle * 2, self.settings.poll_max_seconds)
                continue
            idle = POLL_MIN_SECONDS
            self._run_batch(batch)
        self.executor.close()
        log.info("worker_stopped", worker_id=self.worker_id)

    def _claim(self) -> list[ClaimedTask]:
        if time.monotonic() >= self._next_sweep:
            if recovered := self.queue.recover_expired():
                log.warning("tasks_recovered", count=recovered)
            self._next_sweep = time.monotonic() + self.settings.lease_seconds / 2
        return self.queue.claim(self.worker_id, self._batch, self.settings.lease_seconds)

    def _run_batch(self, batch: list[ClaimedTask]) -> None:
        self._held = {claimed.task.id for claimed in batch}
        self._next_beat = time.monotonic() + self.settings.lease_seconds / 3
        done: list[_Done] = []
        started = last_report = time.monotonic()
        try:
            for position, claimed in enumerate(batch):
                sent = self._ahead == (claimed.task.id, self.executor.generation)
                # A task already in the child runs to its end like any running task.
                if self._drain_until is not None and not sent:
                    break
                if claimed.task.id in self._held or sent:  # else canceled or lost meanwhile
                    following = batch[position + 1] if position + 1 < len(batch) else None
                    self._process(claimed, following, sent, done)
                if time.monotonic() - last_report >= REPORT_SECONDS:
                    self._report(done)
                    done, last_report = [], time.monotonic()
        finally:
            self._ahead = None
            self._report(done)
            if self._held:  # claimed but never started: back to the queue, attempt unspent
                self.queue.release(self._held, self.worker_id)
                self._held = set()
        per_task = (time.monotonic() - started) / len(batch)
        fits = int(BATCH_SECONDS / per_task) if per_task > 0 else self.settings.claim_batch
        self._batch = max(1, min(self.settings.claim_batch, fits))

    def _report(self, done: list[_Done]) -> None:
        if not done:
            return
        accepted = self.queue.complete_many(self.worker_id, [d.completion for d in done])
        self._held -= {d.completion.task_id for d in done}
        for finished in done:
            if finished.completion.task_id in accepted:
                finished.log.info("task_succeeded", elapsed=finished.elapsed)
            else:  # canceled, or its lease lapsed and another worker has it
                finished.log.info("task_abandoned", elapsed=finished.elapsed)

    def _process(
        self,
        claimed: ClaimedTask,
        following: ClaimedTask | None,
        sent: bool,
        done: list[_Done],
    ) -> None:
        task = claimed.task
        bound = log.bind(
            job_id=task.job_id,
            task_id=task.id,
            tenant=claimed.tenant,
            kind=task.kind,
            attempt=task.attempts,
            **({"traceparent": claimed.traceparent} if claimed.traceparent else {}),
        )
        started = time.monotonic()
        bound.debug("task_started", operation=claimed.operation)
        if not sent:
            self.executor.submit(claimed)
        self._ahead = None
        draining = self._drain_until is not None
        if following is not None and following.task.id in self._held and not draining:
            # Queued behind this one in the child's pipe, the next task starts the moment this
            # one ends, while this thread reports: the child never waits for the database.
            self.executor.submit(following)
            self._ahead = (following.task.id, self.executor.generation)
        reply = self._supervise(claimed)
        elapsed = round(time.monotonic() - started, 4)
        if reply is None:
            return
        if reply.result is not None:
            done.append(_Done(Completion(task.id, reply.result, reply.timings), bound, elapsed))
            return
        if reply.deferred is not None:
            seconds = float(reply.deferred["seconds"])
            state = reply.deferred["state"]
            self.queue.defer(task.id, self.worker_id, state, seconds, reply.timings)
            self._held.discard(task.id)
            bound.info("task_deferred", elapsed=elapsed, seconds=seconds)
            return
        error = reply.error()
        # The successes before it first: a failure that ends the job would leave them
        # unreported, refused, and run again by a retry.
        self._report(done)
        done.clear()
        self.queue.fail(task.id, self.worker_id, error)
        self._held.discard(task.id)
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
        ids = {"job_id": task.job_id, "task_id": task.id, "tenant": claimed.tenant}
        limit = min(self.settings.task_timeout, task.timeout_seconds or math.inf)
        own_limit = limit < self.settings.task_timeout
        deadline = time.monotonic() + limit
        while True:
            now = time.monotonic()
            reply = self.executor.wait(
                max(0.0, min(WAIT_SLICE_SECONDS, self._next_beat - now, deadline - now))
            )
            if reply is not None:
                return reply
            now = time.monotonic()
            if self._drain_until is not None and now >= self._drain_until:
                self.executor.kill()
                log.info("task_released", **ids)
                return None  # the batch's end releases it with the others
            if now >= deadline:
                self.executor.kill()
                # An operation's own limit is the user's deadline: running the stage again
                # would only spend it twice. The workers' limit may be a slow moment; retry.
                return Reply.failure(
                    TileworkError(
                        ErrorCode.TIMEOUT,
                        f"the {task.kind} stage ran longer than its limit of {limit:g} s"
                        if own_limit
                        else f"the task ran longer than {limit:g} s",
                        {"kind": task.kind, "limit_seconds": limit},
                        retryable=not own_limit,
                    )
                )
            if now >= self._next_beat and not self._beat(task.id):
                self.executor.kill()
                log.info("task_abandoned", **ids)
                return None

    def _beat(self, running: int) -> bool:
        """Extend every held lease; False when the running task is no longer ours."""
        self._held = self.queue.heartbeat(self._held, self.worker_id, self.settings.lease_seconds)
        self._next_beat = time.monotonic() + self.settings.lease_seconds / 3
        return running in self._held
