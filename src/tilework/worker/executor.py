"""Run tasks in a long-lived child process that the worker can kill and replace.

The child imports the operations once and then takes tasks over a socket, so isolation costs
one message per task, not a process start. A crash, a hang or a memory blow-up in image code
kills only the child; the worker records it as the task's failure.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Protocol

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import ClaimedTask
from tilework.core.settings import Settings
from tilework.worker.cpulimit import CPU_SIGNAL
from tilework.worker.reply import Reply

CLOSE_GRACE_SECONDS = 5.0


class TaskExecutor(Protocol):
    """Where a worker's tasks run; ``Executor`` runs them in a child process."""

    # Which run this is: a task sent before a kill is lost with it and must be resent.
    generation: int

    def ensure_started(self) -> None: ...

    def submit(self, claimed: ClaimedTask) -> None: ...

    def wait(self, timeout: float) -> Reply | None: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


class Executor:
    """The worker's handle on its child process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        # Which child this is: a task sent to an earlier one is lost with it and must be resent.
        self.generation = 0

    def ensure_started(self) -> None:
        """Start the child now if it is not running, so its imports do not delay a task."""
        if self._process is None or self._process.poll() is not None:
            self._discard()
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
            if self._process.poll() is None:
                return None
        code = _join(self._process, CLOSE_GRACE_SECONDS)
        self._discard()
        if code == -CPU_SIGNAL:
            cap = self._settings.task_cpu_seconds
            # The same input would burn the same CPU again: no retry.
            return Reply.failure(
                TileworkError(
                    ErrorCode.TIMEOUT,
                    f"the task used more than its {cap:g} s of CPU time",
                    {"cpu_limit_seconds": cap, "process_died": True},
                    retryable=False,
                )
            )
        return Reply.failure(
            TileworkError(
                ErrorCode.PIPELINE_ERROR,
                f"the task's process died ({_describe_exit(code)})",
                {"process_died": True},  # counted: tilework_task_process_crashes_total
            )
        )

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        self._discard()

    def close(self) -> None:
        """Let the child finish and exit (it stops at end of input); kill it if it lingers."""
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and _join(self._process, CLOSE_GRACE_SECONDS) is None:
            self._process.kill()
            self._process.wait()
        self._process = self._conn = None
        self.generation += 1

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", "tilework.worker.child", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
            )
            conn = Connection(ours.detach())
        conn.send(sys.path)
        conn.send(self._settings)
        self._process, self._conn = process, conn

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
        self.generation += 1


def _join(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """The exit code once the process has exited, or None if it is still running at timeout."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"
