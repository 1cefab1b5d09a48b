"""Concurrent workers in separate processes: every attempt runs once, every fan-in happens once."""

from __future__ import annotations

import multiprocessing
import os
import random
from collections import Counter
from pathlib import Path

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JobStatus, NewJob, TaskStatus
from tilework.core.settings import Settings
from tilework.ops.registry import Registry
from tilework.queue.sql import SqlQueue
from tilework.store.database import Database
from tilework.wiring import queue_policy

WORKERS = 4
TASKS = 40
STAGES = 3
FAILURE_RATE = 0.2


def work(settings: Settings, database_url: str, log_path: Path, seed: int) -> None:
    """A worker process: claim small batches, record each execution, fail some attempts."""
    rng = random.Random(seed)
    queue = SqlQueue(Database(database_url), Registry.load(settings), queue_policy(settings))
    worker = f"w{seed}:{os.getpid()}"
    idle = 0
    with log_path.open("a") as log:
        while idle < 50:
            claimed = queue.claim(worker, rng.randint(1, 3), 30)
            if not claimed:
                idle += 1
                continue
            idle = 0
            for item in claimed:
                log.write(f"{item.task.id} {item.task.attempts}\n")
                log.flush()
                if rng.random() < FAILURE_RATE and item.task.attempts < item.task.max_attempts:
                    queue.fail(item.task.id, worker, TileworkError(ErrorCode.PIPELINE_ERROR, "x"))
                else:
                    assert queue.complete(item.task.id, worker, {"n": item.task.payload["n"]}, {})


def test_concurrent_workers_run_each_attempt_once_and_fan_in_once(
    settings: Settings, queue: SqlQueue, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"retry_base_seconds": 0.0, "retry_max_seconds": 0.0})
    new = NewJob(
        "noop",
        {"tasks": TASKS, "stages": STAGES, "sleep_ms": 0},
        {"key": "uploads/x"},
        ["s1", "s2", "s3"],
    )
    job, _ = queue.create_job(new)
    log_path = tmp_path / "executions.log"
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=work, args=(settings, queue.db.url, log_path, seed))
        for seed in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(90)
        assert process.exitcode == 0

    finished = queue.get_job(job.id)
    assert finished is not None and finished.status is JobStatus.SUCCEEDED
    tasks = queue.job_tasks(job.id)
    # Exactly one fan-in per stage: a double launch would add a second set of tasks.
    assert Counter(task.stage for task in tasks) == {0: TASKS, 1: TASKS, 2: TASKS}
    assert all(task.status is TaskStatus.SUCCEEDED for task in tasks)
    executions = Counter(
        tuple(map(int, line.split())) for line in log_path.read_text().splitlines()
    )
    # Each attempt of each task ran exactly once, and every recorded attempt happened.
    assert all(count == 1 for count in executions.values())
    assert sorted(executions) == sorted((t.id, a) for t in tasks for a in range(1, t.attempts + 1))
    assert any(task.attempts > 1 for task in tasks), "the failure injection never fired"
    assert finished.tasks_done == TASKS * STAGES
