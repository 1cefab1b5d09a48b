"""Group commit for submits: one thread validates and writes whatever arrived together.

SQLite has one writer, and a commit costs about as much as everything else a submit does. When
32 clients submit at once, one transaction for all of them instead of 32 queued transactions is
what keeps the tail latency low. Nothing waits for a batch to fill: the thread takes whatever is
waiting the moment it is free, so a lone submit is written at once.

Validation runs on this thread too (it may stat the uploaded object or read an image header),
so the event loop never blocks on I/O.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from tilework.core.errors import TileworkError
from tilework.core.jobs import JobRecord, NewJob
from tilework.queue import Admission

log = structlog.get_logger("tilework.api")

MAX_BATCH = 128
Outcome = tuple[JobRecord, bool]  # the job, and whether this submit created it


@dataclass(frozen=True)
class _Pending:
    prepare: Callable[[], NewJob]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Outcome]

    def settle(self, outcome: Outcome | BaseException) -> None:
        self.loop.call_soon_threadsafe(_resolve, self.future, outcome)


def _resolve(future: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    if future.done():  # the client went away and the request was canceled
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class Submitter:
    def __init__(self, jobs: Admission) -> None:
        self._jobs = jobs
        self._inbox: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def submit(self, prepare: Callable[[], NewJob]) -> Outcome:
        """Run ``prepare`` (validation) and insert its job; raises what either raised."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        pending = _Pending(prepare, loop, loop.create_future())
        self._inbox.put(pending)
        return await pending.future

    def stop(self) -> None:
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._inbox.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tilework-submitter", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._inbox.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        ready: list[tuple[_Pending, NewJob]] = []
        for pending in batch:
            try:
                ready.append((pending, pending.prepare()))
            except Exception as exc:  # the request's own error, raised again in its handler
                pending.settle(exc)
        if not ready:
            return
        try:
            outcomes = self._jobs.create_jobs([new for _, new in ready])
        except Exception as exc:
            if not isinstance(exc, TileworkError):
                log.exception("submit batch failed", jobs=len(ready))
            for pending, _ in ready:
                pending.settle(exc)
            return
        # Each outcome is the job (and whether it is new), or the refusal of that job alone.
        for (pending, _), outcome in zip(ready, outcomes, strict=True):
            pending.settle(outcome)
