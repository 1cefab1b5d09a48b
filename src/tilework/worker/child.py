"""The task process: started by an ``Executor``, it runs tasks sent over its socket until EOF.

It is started as ``python -m tilework.worker.child FD`` rather than through multiprocessing:
multiprocessing's spawn starts a resource-tracker process beside the first child, a whole
interpreter (12 MiB) that tilework never needs.
"""

from __future__ import annotations

import signal
import sys
from multiprocessing.connection import Connection

from tilework.core.logging import configure_logging
from tilework.core.parent import exit_with_parent
from tilework.core.settings import Settings
from tilework.worker.cpulimit import disable_core_dumps, limit_next_task
from tilework.worker.malloc import return_large_blocks


def serve_tasks(conn: Connection, settings: Settings) -> None:
    """Take tasks until the socket closes."""
    # Ctrl-C reaches the whole process group; the worker decides when its child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()
    return_large_blocks()
    disable_core_dumps()
    configure_logging(settings)
    # Imported here so that only the task process, never the worker, loads image libraries.
    from tilework.worker.running import TaskRunner

    runner = TaskRunner(settings)
    while True:
        try:
            claimed = conn.recv()
        except (EOFError, OSError):
            return
        limit_next_task(settings.task_cpu_seconds)
        conn.send(runner.run(claimed))


def main() -> None:
    conn = Connection(int(sys.argv[1]))
    # The worker's import path first (test plugins, a user's operations), then its settings,
    # which may name modules that only that path reaches.
    sys.path[:] = conn.recv()
    serve_tasks(conn, conn.recv())


if __name__ == "__main__":
    main()
