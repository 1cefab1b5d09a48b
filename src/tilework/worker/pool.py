"""Worker loops as threads of one process, each with its own task process; stop with a drain.

Beside them run the host's duties: other background work claimed from the database with the
same leases (``store.leasing``), such as sending webhooks. Every host that works does them, so
a fleet of ``tilework worker`` hosts needs nothing else running.

A worker loop only claims, heartbeats and records outcomes: it waits on the database and on its
task process, never on image work. Threads share one interpreter, one queue and one set of
imports, where a process per loop cost about 60 MiB each for the same waiting.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Protocol

import structlog

from tilework.core.settings import Settings
from tilework.queue import Queue
from tilework.store.notify import TaskSignal
from tilework.superres.processes import ModelProcesses
from tilework.worker.executor import Executor
from tilework.worker.loop import Worker

log = structlog.get_logger("tilework.pool")

RESTART_BACKOFF_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0  # past the drain, for a worker to release its task and close


class Duty(Protocol):
    """Background work a host does beside its workers, in threads of its own."""

    def start(self) -> None: ...

    def stop(self) -> None:
        """Finish what is in hand and return (each duty bounds its own wait)."""
        ...


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        queue: Queue,
        signal: TaskSignal,
        count: int,
        models: ModelProcesses,
        duties: Sequence[Duty] = (),
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.signal = signal
        self.count = count
        self.models = models
        self.duties = list(duties)
        self.workers: list[Worker] = []
        self._threads: list[threading.Thread] = []

    def start(self, until_idle: bool = False) -> None:
        """Start the worker loops; with ``until_idle``, each ends once the queue has nothing
        running and nothing due (``Worker.run``)."""
        # The model processes first: which of them came up decides where task processes send
        # their tiles (none: each runs ncnn itself).
        self.models.start()
        self.workers = [
            Worker(self.settings, self.queue, Executor(self._task_settings(i)), i, self.signal)
            for i in range(self.count)
        ]
        self._threads = [
            threading.Thread(target=self._run, args=(worker, until_idle), name=f"worker-{index}")
            for index, worker in enumerate(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        for duty in self.duties:
            duty.start()
        log.info("pool_started", workers=len(self.workers), duties=len(self.duties))

    def running(self) -> bool:
        """Whether any worker loop is still running."""
        return any(thread.is_alive() for thread in self._threads)

    def stop(self, at_once: bool = False) -> None:
        """Drain every worker and wait for them; a second SIGTERM or Ctrl-C stops them at once,
        as does ``at_once`` (the second came before this was called).

        Called from the main thread, which is where signal handlers live.
        """
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._hurry)
        log.info("pool_draining", seconds=self.settings.drain_seconds)
        self._stop_all()
        if at_once:
            self._hurry(signal.SIGTERM, None)
        deadline = time.monotonic() + self.settings.drain_seconds + STOP_GRACE_SECONDS
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.signal.close()
        self.models.stop()
        # Last: the workers' final outcomes may have written deliveries worth sending.
        for duty in self.duties:
            duty.stop()
        log.info("pool_stopped")

    def _task_settings(self, index: int) -> Settings:
        address = self.models.address(index)
        if not address:
            return self.settings
        return self.settings.model_copy(update={"model_socket": address})

    def _stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()

    def _hurry(self, _signum: int, _frame: FrameType | None) -> None:
        log.info("pool_hurried")
        self._stop_all()

    def _run(self, worker: Worker, until_idle: bool) -> None:
        """Run one worker loop; an unexpected error restarts it with a fresh task process."""
        while True:
            try:
                worker.run(until_idle)
                return
            except Exception:  # the loop must outlive any one failure, as a process would
                log.exception("worker_crashed", worker_id=worker.worker_id)
                worker.executor.kill()
                time.sleep(RESTART_BACKOFF_SECONDS)
