"""The interface every operation implements, built-in or from a user's package."""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import structlog
from pydantic import BaseModel

from tilework.core.credits import MINIMUM_COST, megapixel_cost
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import OutputFormat
from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.objects.paths import job_output_key
from tilework.objects.store import ObjectStore
from tilework.objects.uploads import upload

P = TypeVar("P", bound=BaseModel)
log = structlog.get_logger("tilework.task")


@dataclass
class TaskContext(Generic[P]):
    """What a task's run sees: its job's inputs, its own payload, storage and a step timer."""

    job_id: str
    task: TaskRecord
    params: P
    input: JsonDict
    objects: ObjectStore
    settings: Settings
    scratch: Path
    timings: dict[str, float] = field(default_factory=dict)
    # Where this task's files go under the job's folder, and how its timings are named: a
    # step of a job of steps has its own (``steps/1/``, ``2.``), so two steps never meet.
    output_space: str = ""
    timing_prefix: str = ""

    def output_key(self, name: str) -> str:
        """The storage key of a file of the job's named ``name`` (in this task's space)."""
        return job_output_key(self.job_id, self.output_space + name)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a named step and log it; the job's ``timings`` sums them over its tasks."""
        started = time.perf_counter()
        named = self.timing_prefix + name
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.timings[named] = round(self.timings.get(named, 0.0) + elapsed, 4)
            log.info(
                "step",
                step=named,
                seconds=round(elapsed, 4),
                job_id=self.job_id,
                task_id=self.task.id,
                kind=self.task.kind,
            )

    @contextmanager
    def scratch_file(self, suffix: str = "") -> Iterator[Path]:
        """A fresh local path for the length of the block; removed after (if still there)."""
        path = self.scratch / f"task-{os.getpid()}-{os.urandom(6).hex()}{suffix}"
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def store_output(
        self,
        path: Path,
        fmt: OutputFormat,
        width: int,
        height: int,
        *,
        name: str = "output",
        key: str | None = None,
        step: str = "store",
    ) -> JsonDict:
        """Upload ``path`` as one of the job's outputs and return its entry for ``outputs``.

        The key is fixed (``jobs/<id>/<name>.<ext>`` unless given), so a re-run overwrites.
        Uploads share the host's ``max_parallel_uploads`` slots and retry transient failures.
        """
        with self.step(step):
            target = key or self.output_key(f"{name}.{fmt.extension}")
            stored = upload(self.objects, target, path, self.settings)
        return {
            "name": name,
            "key": stored.key,
            "width": width,
            "height": height,
            "format": fmt.value,
            "bytes": stored.bytes,
            "sha256": stored.sha256,
        }


TaskFunction = Callable[[TaskContext[Any]], JsonDict]


def largest_input(settings: Settings) -> tuple[int, int]:
    """The size an input of unknown size is checked and priced as: the largest square allowed."""
    side = math.isqrt(settings.max_input_pixels)
    return (side, side)


class CachePolicy(StrEnum):
    """Whether a job may be answered with an equal job's outputs (``service.caching``)."""

    ALWAYS = "always"  # deterministic: unless the job says ``cache: false``
    ASKED = "asked"  # only when the job says ``cache: true`` (a hosted model: its own choice)
    NEVER = "never"


class Operation(Generic[P]):
    """Subclass with a ``name``, a ``Params`` model, ``plan``, and either ``run_module`` with
    ``tasks`` or a ``run`` of its own."""

    name: ClassVar[str]
    Params: type[P]
    # Where the code that runs its tasks lives, by name: the API and the worker loop import an
    # operation to validate and plan, and only the task process imports this module (and the
    # image libraries it needs). ``tasks`` maps each task kind to a function of that module
    # taking the ``TaskContext``.
    run_module: ClassVar[str | None] = None
    tasks: ClassVar[Mapping[str, str]] = {}
    # False: a job may come without an input image (a hosted model that makes one).
    needs_input: ClassVar[bool] = True
    # Deterministic operations say ALWAYS: the same input and params make the same bytes.
    cache: ClassVar[CachePolicy] = CachePolicy.NEVER
    # Raise it when a change makes other bytes from the same input: cached results of an
    # older version are never answered.
    version: ClassVar[str] = "1"

    def cache_policy(self, params: P) -> CachePolicy:
        return self.cache

    def cache_variant(self, params: P, settings: Settings) -> str:
        """What else decides the bytes besides the input, params and version (the device
        class super-resolution runs on); part of the cache key."""
        return ""

    def stages(self, params: P) -> list[str]:
        """Stage names shown in progress, in order."""
        return [self.name]

    def validate(self, params: JsonDict) -> P:
        return self.Params.model_validate(params)

    def admit(self, params: P, source: JsonDict, objects: ObjectStore, settings: Settings) -> None:
        """Refuse at submit, with a ``TileworkError``, a job that cannot succeed. Must be quick:
        it runs on the request path (reading an uploaded image's header is the most it may do)."""

    def output_pixels(self, params: P, size: tuple[int, int]) -> float:
        """At most how many pixels the job outputs for an input of ``size``: its price in
        credits (``core.credits``) is this in megapixels. By default none."""
        return 0.0

    def price(self, params: P, settings: Settings) -> float | None:
        """The credits to reserve when they do not follow from output pixels (a hosted
        model's price); None: ``output_pixels`` prices the job."""
        return None

    def reserve(self, params: P, size: tuple[int, int], settings: Settings) -> float:
        """The credits to reserve for an input of ``size``: ``price``, else the output's
        megapixels (at most the largest output allowed)."""
        fixed = self.price(params, settings)
        if fixed is not None:
            return max(MINIMUM_COST, fixed)
        pixels = min(self.output_pixels(params, size), float(settings.max_output_pixels))
        return megapixel_cost(pixels)

    def requires_input(self, params: P) -> bool:
        """Whether a job needs an input image (``needs_input``, unless the params decide)."""
        return self.needs_input

    def plan(
        self, job: JobRecord, params: P, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        raise NotImplementedError

    def substitute(
        self, job: JobRecord, params: P, task: TaskRecord, error: TileworkError
    ) -> PlannedTask | None:
        """A task to run in place of one that is out of attempts, or None to fail the job."""
        return None

    def run(self, ctx: TaskContext[P]) -> JsonDict:
        """Do one task's work; return its JSON result. Runs in a worker's task process.

        By default the function ``tasks[kind]`` of ``run_module``, imported on first use."""
        return self.task_function(ctx.task.kind)(ctx)

    def task_function(self, kind: str) -> TaskFunction:
        """The function that runs tasks of ``kind``, looked up in ``run_module``."""
        if self.run_module is None:
            raise NotImplementedError(f"{type(self).__name__} sets no run_module and no run")
        function_name = self.tasks.get(kind)
        if function_name is None:
            raise TileworkError(ErrorCode.PIPELINE_ERROR, f"{self.name} has no task kind {kind!r}")
        function: TaskFunction = getattr(importlib.import_module(self.run_module), function_name)
        return function


class SingleTaskOperation(Operation[P]):
    """An operation that is one task whose result carries the job's ``outputs``."""

    def plan(
        self, job: JobRecord, params: P, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        if stage == 0:
            return NextStage([PlannedTask(self.name)])
        return Finished([output for task in previous for output in _outputs(task)])


def _outputs(task: TaskRecord) -> list[Any]:
    return list((task.result or {}).get("outputs", []))
