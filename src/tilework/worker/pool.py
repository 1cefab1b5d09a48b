"""Worker processes: start N, restart any that dies, stop them all with a drain."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from multiprocessing.process import BaseProcess

import structlog

from tilework.core.logging import configure_logging
from tilework.core.settings import Settings
from tilework.wiring import build_worker

log = structlog.get_logger("tilework.pool")

SUPERVISE_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0  # past the drain, before a worker is killed outright


def worker_main(settings: Settings) -> None:
    """Entry point of one worker process."""
    configure_logging(settings)
    worker = build_worker(settings)
    worker.install_signal_handlers()
    worker.run()


class WorkerPool:
    def __init__(self, settings: Settings, count: int) -> None:
        self.settings = settings
        self.count = count
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        self._processes = [self._spawn() for _ in range(self.count)]
        log.info("pool_started", workers=self.count)

    def supervise(self) -> None:
        """Until ``stop``: replace worker processes that died (a crash, an OOM kill, kill -9)."""
        while not self._stopping.wait(SUPERVISE_SECONDS):
            for index, process in enumerate(self._processes):
                if not process.is_alive() and not self._stopping.is_set():
                    log.warning("worker_died", pid=process.pid, exitcode=process.exitcode)
                    self._processes[index] = self._spawn()

    def stop(self) -> None:
        """SIGTERM every worker (they drain), then wait; kill any that outlasts the drain."""
        self._stopping.set()
        for process in self._processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        for process in self._processes:
            process.join(self.settings.drain_seconds + STOP_GRACE_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        log.info("pool_stopped")

    def _spawn(self) -> BaseProcess:
        process = self._context.Process(
            target=worker_main, args=(self.settings,), name="tilework-worker"
        )
        process.start()
        return process
