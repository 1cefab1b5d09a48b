"""A worker in this process: the real ``Worker`` loop on the real queue, its tasks run by the
task process's own ``TaskRunner`` in the worker's thread.

Only the process boundary is left out; tasks and replies still cross it as pickles, as they do
over the task process's socket. What only a separate process shows (a crash, a kill, a CPU or
memory cap) is tested with the real ``Executor`` in ``tests/worker`` and with real servers in
``tests/acceptance``.
"""

from __future__ import annotations

import itertools
import pickle
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tilework.core.jobs import ClaimedTask, JobRecord
from tilework.core.settings import Settings
from tilework.queue.sql import SqlQueue
from tilework.worker.executor import TaskExecutor
from tilework.worker.loop import Worker
from tilework.worker.reply import Reply
from tilework.worker.running import TaskRunner

# Each worker of this process its own index, so its holder id is its own as a worker thread's
# is in a real pool: leases, limits per host and completions tell them apart.
_INDEXES = itertools.count()


class InlineExecutor:
    """Runs each task when the worker waits for it, in the worker's own thread."""

    def __init__(self, settings: Settings) -> None:
        self.generation = 0
        self._settings = settings
        self._runner: TaskRunner | None = None
        self._sent: deque[ClaimedTask] = deque()

    def ensure_started(self) -> None:
        if self._runner is None:
            self._runner = TaskRunner(self._settings)

    def submit(self, claimed: ClaimedTask) -> None:
        self._sent.append(pickle.loads(pickle.dumps(claimed)))

    def wait(self, timeout: float) -> Reply | None:
        if not self._sent:
            return None
        self.ensure_started()
        assert self._runner is not None
        reply: Reply = pickle.loads(pickle.dumps(self._runner.run(self._sent.popleft())))
        return reply

    def kill(self) -> None:
        self._sent.clear()
        self.generation += 1

    def close(self) -> None:
        self.kill()


def work_until_idle(
    settings: Settings, queue: SqlQueue, executor: TaskExecutor | None = None
) -> None:
    """Run a worker until no task is running and none is due (``Worker.run(until_idle=True)``)."""
    worker = Worker(settings, queue, executor or InlineExecutor(settings), next(_INDEXES))
    worker.run(until_idle=True)


@contextmanager
def working(
    settings: Settings, queue: SqlQueue, executor: TaskExecutor | None = None
) -> Iterator[Worker]:
    """A worker running on a thread of this process until the block ends, then drained."""
    worker = Worker(settings, queue, executor or InlineExecutor(settings), next(_INDEXES))
    thread = threading.Thread(target=worker.run, name="test-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        worker.stop()  # twice: at once, whatever runs
        thread.join(30)
        assert not thread.is_alive(), "the worker did not stop"


def wait_for(
    queue: SqlQueue, job_id: str, check: Callable[[JobRecord], bool], timeout: float = 30
) -> JobRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get_job(job_id)
        if job is not None and check(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never reached the expected state: {queue.get_job(job_id)}")


def ended(job: JobRecord) -> bool:
    return job.status.terminal
