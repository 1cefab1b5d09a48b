"""A CPU-time cap for each task, enforced by the kernel in the task process.

The wall-clock timeout bounds how long a task may take; this bounds how much CPU it may burn
across all its threads (a progressive JPEG of thousands of scans, a decompression bomb). Before
each task the process sets its soft ``RLIMIT_CPU`` to what it has used so far plus the cap;
past it the kernel sends SIGXCPU, whose default action ends the process at once, even inside
libvips, where no Python handler could run. The worker reads that signal as the task's
``timeout``. Core dumps are off, so that a SIGXCPU leaves no core file behind.
"""

from __future__ import annotations

import math
import os
import resource
import signal

CPU_SIGNAL = signal.SIGXCPU


def disable_core_dumps() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def limit_next_task(cpu_seconds: float) -> None:
    """Allow the task about to run ``cpu_seconds`` of CPU beyond what this process has used."""
    used = sum(os.times()[:2])
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(used + cpu_seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
