"""Deadlines (``deadline``, ``Cancel-After``): a duty of every worker host, done by one host at a
time for all of them (``store.duties``), every ``EVERY_SECONDS``. A job still open past its
deadline is canceled with ``timeout``, and the request a provider still runs for it is canceled
too: nobody waits on it any more.

``run_at`` needs no duty: a task is not due before it (``store.leasing``), so no claim takes it.
"""

from __future__ import annotations

import structlog

from tilework.core.settings import Settings
from tilework.queue import Queue
from tilework.remote.clients import cancel_recorded
from tilework.store.database import Database
from tilework.store.duties import InTurns

log = structlog.get_logger("tilework.worker")

DUTY = "deadlines"
EVERY_SECONDS = 1.0  # a job is canceled within about two of these past its deadline
LEASE_SECONDS = 60.0  # a provider's cancel may take a while; a dead host's turn passes after it
BATCH = 100


class Deadlines(InTurns):
    def __init__(self, settings: Settings, queue: Queue, database: Database) -> None:
        super().__init__(database, DUTY, EVERY_SECONDS, EVERY_SECONDS, LEASE_SECONDS)
        self.settings = settings
        self.queue = queue

    def work(self) -> None:
        while not self.stopping:
            overdue = self.queue.cancel_overdue(BATCH)
            if overdue:
                log.info("jobs_canceled_past_deadline", count=len(overdue))
            for job in overdue:  # nobody waits on what a provider still runs for them
                if job.remote:
                    cancel_recorded(self.settings, job.remote, job.id)
            if len(overdue) < BATCH or not self.extend():
                break
