"""Run tasks in a long-lived child process that the worker can kill and replace.

The child imports the operations once and then takes tasks over a pipe, so isolation costs one
message per task, not a process start. A crash, a hang or a memory blow-up in image code kills
only the child; the worker records it as the task's failure.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import ClaimedTask
from tilework.core.logging import configure_logging
from tilework.core.settings import Settings
from tilework.worker.malloc import return_large_blocks
from tilework.worker.reply import Reply

PARENT_CHECK_SECONDS = 1.0
CLOSE_GRACE_SECONDS = 5.0


class Executor:
    """The worker's handle on its child process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def ensure_started(self) -> None:
        """Start the child now if it is not running, so its imports do not delay a task."""
        if self._process is None or not self._process.is_alive():
            self._start()

    def submit(self, claimed: ClaimedTask) -> None:
        self.ensure_started()
        assert self._conn is not None
        self._conn.send(claimed)

    def wait(self, timeout: float) -> Reply | None:
        """The reply if one arrives within ``timeout`` seconds; a crash is a failure reply."""
        assert self._conn is not None and self._process is not None
        try:
            if self._conn.poll(timeout):
                reply: Reply = self._conn.recv()
                return reply
        except (EOFError, OSError):
            pass
        else:
            if self._process.is_alive():
                return None
        self._process.join(CLOSE_GRACE_SECONDS)
        code = self._process.exitcode
        self._discard()
        return Reply.failure(
            TileworkError(
                ErrorCode.PIPELINE_ERROR, f"the task's process died ({_describe_exit(code)})"
            )
        )

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
        self._discard()

    def close(self) -> None:
        """Let the child finish and exit (it stops at end of input); kill it if it lingers."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(CLOSE_GRACE_SECONDS)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._process = self._conn = None

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=child_main, args=(child, self._settings), name="tilework-task", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def child_main(conn: Connection, settings: Settings) -> None:
    """The child: take tasks until the pipe closes."""
    # Ctrl-C reaches the whole process group; the worker decides when its child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    return_large_blocks()
    configure_logging(settings)
    # Imported here so that only the child, never the worker, loads image libraries.
    from tilework.worker.running import TaskRunner

    runner = TaskRunner(settings)
    while True:
        try:
            claimed = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(runner.run(claimed))


def _exit_with_parent() -> None:
    """A worker killed with SIGKILL cannot stop its child; the child notices and leaves."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
