"""Peak memory of processes the tests start, read from ``/proc``: the kernel's high-water mark
of resident memory (``VmHWM``), reset between measurements so each one sees only its own work.

Writing ``5`` to ``/proc/PID/clear_refs`` sets a process's ``VmHWM`` back to its current
resident size (Linux ≥ 4.0), so a long-lived task process can be measured input by input.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MiB = 1 << 20
TASK_PROCESS = "tilework.worker.child"  # the command line of a worker's task process


def status_bytes(pid: int, field_name: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (``VmHWM``, ``VmRSS``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field_name} for process {pid}")


def reset_peak(pid: int) -> int:
    """Set the process's peak back to its resident size now; returns that size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status_bytes(pid, "VmRSS")


def task_processes(parent: int) -> set[int]:
    """The pids of the task processes under ``parent`` (a server or worker host)."""
    found = set()
    for child in psutil.Process(parent).children(recursive=True):
        try:
            if TASK_PROCESS in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


@dataclass
class Growth:
    """What ``measured`` saw: each process's peak above where it started, and which of the
    processes measured had gone by the end (killed and replaced, say)."""

    above_start: dict[int, int] = field(default_factory=dict)
    resident_peak: dict[int, int] = field(default_factory=dict)
    gone: set[int] = field(default_factory=set)

    @property
    def peak(self) -> int:
        """The largest growth of any process measured."""
        return max(self.above_start.values(), default=0)

    @property
    def largest(self) -> int:
        """The largest resident size any process measured reached."""
        return max(self.resident_peak.values(), default=0)


@contextmanager
def measured(pids: set[int]) -> Iterator[Growth]:
    """Each process's peak resident memory during the block, above its size at the start."""
    assert pids, "no process to measure"
    start = {pid: reset_peak(pid) for pid in pids}
    growth = Growth()
    yield growth
    for pid, resident in start.items():
        try:
            growth.resident_peak[pid] = status_bytes(pid, "VmHWM")
            growth.above_start[pid] = growth.resident_peak[pid] - resident
        except FileNotFoundError:
            growth.gone.add(pid)
