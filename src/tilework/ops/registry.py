"""Find operations (entry points and configured modules) and plan jobs with them."""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import asdict, replace
from importlib.metadata import entry_points
from typing import Any

from tilework.core.destinations import DELIVER_KIND, job_values
from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import Finished, JobRecord, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.core.sources import FETCH_KIND, FETCH_STAGE
from tilework.ops.base import Operation
from tilework.ops.steps import Steps

ENTRY_POINT_GROUP = "tilework.operations"
BUILT_IN_OWNER = "tilework"
AnyOperation = Operation[Any]


class Registry:
    """Operations by name. Also the queue's ``Planner``: it routes each job to its operation."""

    def __init__(
        self, operations: list[AnyOperation], packages: dict[str, str] | None = None
    ) -> None:
        self._operations = {operation.name: operation for operation in operations}
        # Built in, over whatever else is registered: several of them as one job.
        self._operations[Steps.name] = Steps(self.get)
        self._packages = packages or {}

    @classmethod
    def load(cls, settings: Settings) -> Registry:
        found: list[AnyOperation] = []
        packages: dict[str, str] = {}
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            operation = entry.load()
            found.append(operation)
            if entry.dist is not None:
                packages[operation.name] = package_name(entry.dist.name)
        for module_name in settings.plugins:
            for operation in _module_operations(module_name):
                found.append(operation)
                packages[operation.name] = package_name(module_name.partition(".")[0])
        return cls(found, packages)

    def names(self) -> list[str]:
        return sorted(self._operations)

    def package(self, name: str) -> str:
        """The package an operation comes from (its distribution, normalized as pip does):
        ``tilework`` for the built-in ones. Replicate's callers may name it as the owner."""
        return self._packages.get(name, BUILT_IN_OWNER)

    def get(self, name: str) -> AnyOperation:
        try:
            return self._operations[name]
        except KeyError:
            names = self.names()
            closest = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {closest[0]!r}? " if closest else ""
            registered = f"registered: {', '.join(names)}"
            raise TileworkError(
                ErrorCode.VALIDATION_FAILED,
                f"unknown operation {name!r}; {hint}{registered}",
                {
                    "errors": [
                        {
                            "field": "operation",
                            "message": f"not a registered operation; {hint}{registered}",
                        }
                    ],
                    "operations": names,
                    "closest": closest[0] if closest else None,
                },
            ) from None

    def plan(self, job: JobRecord, stage: int, previous: list[TaskRecord]) -> NextStage | Finished:
        if previous and previous[0].kind == DELIVER_KIND:
            return delivered(previous[0])
        # A job that fetches its URL input first: its operation's stages come one later.
        fetches = job.stages[:1] == [FETCH_STAGE]
        if fetches:
            if stage == 0:
                return NextStage([PlannedTask(FETCH_KIND)])
            stage -= 1
            if previous and previous[0].kind == FETCH_KIND:
                previous = []
        operation = self.get(job.operation)
        step = operation.plan(job, operation.validate(job.params), stage, previous)
        if isinstance(step, Finished):
            return self.answered(job, step)
        if fetches and step.stage is not None:
            return replace(step, stage=step.stage + 1)
        return step

    def answered(self, job: JobRecord, finished: Finished) -> NextStage | Finished:
        return finished if job.delivery is None else delivery_stage(job, finished)

    def substitute(
        self, job: JobRecord, task: TaskRecord, error: TileworkError
    ) -> PlannedTask | None:
        if task.kind == DELIVER_KIND:  # nothing else can deliver: the job fails with its code
            return None
        operation = self.get(job.operation)
        return operation.substitute(job, operation.validate(job.params), task, error)


def delivery_stage(job: JobRecord, finished: Finished) -> NextStage:
    """A job with a destination does not end with its operation's last stage: one more task
    copies its outputs there (``worker.delivery``), carrying what the job will answer."""
    assert job.delivery is not None
    payload = {
        "destination": job.delivery["destination"],
        "values": job_values(job, job.delivery.get("vars") or {}),
        "finished": asdict(finished),
    }
    return NextStage([PlannedTask(DELIVER_KIND, payload)], stage=len(job.stages) - 1)


def delivered(task: TaskRecord) -> Finished:
    """The job's end once its ``deliver`` task copied the outputs: the outputs it answered."""
    finished = task.payload["finished"]
    assert task.result is not None
    return Finished(**{**finished, "outputs": task.result["outputs"]})


def package_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _module_operations(module_name: str) -> list[AnyOperation]:
    module = importlib.import_module(module_name)
    operations = getattr(module, "operations", None)
    if operations is None and hasattr(module, "operation"):
        operations = [module.operation]
    if not operations:
        raise ValueError(
            f"plugin module {module_name} defines neither 'operation' nor 'operations'"
        )
    return list(operations)
