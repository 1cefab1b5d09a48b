"""Measuring a benchmark's work: wall time, CPU time and peak RSS over a process tree."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MIB = 1 << 20
SAMPLE_SECONDS = 0.02
TREE_REFRESH_SECONDS = 0.5


@dataclass
class Usage:
    wall: float
    cpu: float
    peak_rss: int
    job_rss: int | None = None  # the task processes alone, without the server process
    by_process: dict[str, int] = field(default_factory=dict)  # each process's own peak

    def line(self, label: str) -> str:
        job = "" if self.job_rss is None else f" (task processes {self.job_rss / MIB:.1f} MiB)"
        text = (
            f"  {label:<10} wall {self.wall:7.2f} s   cpu {self.cpu:7.2f} s   "
            f"peak rss {self.peak_rss / MIB:7.1f} MiB{job}"
        )
        if len(self.by_process) > 1:
            each = ", ".join(f"{name} {rss / MIB:.0f}" for name, rss in self.by_process.items())
            text += f"\n  {'':<10} each process's own peak (MiB): {each}"
        return text

    def memory_checks(self) -> list[tuple[str, float]]:
        """(what, bytes) pairs to hold against a memory target."""
        checks = [("server", float(self.peak_rss))]
        if self.job_rss is not None:
            checks.append(("task processes", float(self.job_rss)))
        return checks


def tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(root: psutil.Process, work: Callable[[], None]) -> Usage:
    """Run ``work`` while sampling the summed RSS of ``root``'s tree; CPU is the tree's delta.

    Task processes are long-lived children of the server, so the delta of the tree's CPU times
    counts all work done for the job. The tree is listed again only every
    ``TREE_REFRESH_SECONDS``: listing it reads every process on the machine, and doing that
    every 20 ms took a good part of a core from the job being measured.
    """
    peak = task_peak = 0
    done = threading.Event()
    own_peaks: dict[int, int] = {}

    def sample() -> None:
        nonlocal peak, task_peak
        processes: list[psutil.Process] = []
        listed = 0.0
        while not done.is_set():
            if time.monotonic() - listed >= TREE_REFRESH_SECONDS:
                processes, listed = tree(root), time.monotonic()
            total = tasks = 0
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    rss = process.memory_info().rss
                    total += rss
                    tasks += 0 if process.pid == root.pid else rss
                    own_peaks[process.pid] = max(own_peaks.get(process.pid, 0), rss)
            peak, task_peak = max(peak, total), max(task_peak, tasks)
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    cpu_before = cpu_seconds(tree(root))
    started = time.perf_counter()
    sampler.start()
    try:
        work()
    finally:
        wall = time.perf_counter() - started
        cpu = cpu_seconds(tree(root)) - cpu_before
        done.set()
        sampler.join()
    tasks = [rss for pid, rss in own_peaks.items() if pid != root.pid]
    by_process = {"server": own_peaks.get(root.pid, 0)} if tasks else {}
    by_process.update({f"task {n}" if n > 1 else "task": rss for n, rss in enumerate(tasks, 1)})
    return Usage(wall, cpu, peak, task_peak if tasks else None, by_process)


def run_script(script: str) -> Usage:
    """Run a Python snippet in a fresh process and measure it (anchors)."""
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # the packaged tool prints its progress there
    )

    def wait() -> None:
        _, errors = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"anchor script failed ({process.returncode}): {errors.decode()}")

    return measure(psutil.Process(process.pid), wait)


def run_anchor(script: str) -> Usage:
    """An anchor's CPU time comes from its own rusage: it is gone when ``measure`` looks."""
    before = psutil.Process().cpu_times()
    usage = run_script(script)
    after = psutil.Process().cpu_times()
    usage.cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return usage
