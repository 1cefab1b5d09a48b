"""A child process (a task process, a model process) leaves once its parent has died, even by
SIGKILL, which the parent cannot pass on."""

from __future__ import annotations

import os
import threading
import time

PARENT_CHECK_SECONDS = 1.0


def exit_with_parent() -> None:
    """Watch the parent from a daemon thread and exit once it is gone (we are re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
