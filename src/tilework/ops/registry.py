"""Find operations (entry points and configured modules) and plan jobs with them."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import Finished, JobRecord, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.ops.base import Operation

ENTRY_POINT_GROUP = "tilework.operations"
AnyOperation = Operation[Any]


class Registry:
    """Operations by name. Also the queue's ``Planner``: it routes each job to its operation."""

    def __init__(self, operations: list[AnyOperation]) -> None:
        self._operations = {operation.name: operation for operation in operations}

    @classmethod
    def load(cls, settings: Settings) -> Registry:
        found: list[AnyOperation] = [ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)]
        for module_name in settings.plugins:
            found.extend(_module_operations(module_name))
        return cls(found)

    def names(self) -> list[str]:
        return sorted(self._operations)

    def get(self, name: str) -> AnyOperation:
        try:
            return self._operations[name]
        except KeyError:
            raise TileworkError(
                ErrorCode.VALIDATION_FAILED,
                f"unknown operation {name!r}",
                {
                    "errors": [{"field": "operation", "message": "not a registered operation"}],
                    "operations": self.names(),
                },
            ) from None

    def plan(self, job: JobRecord, stage: int, previous: list[TaskRecord]) -> NextStage | Finished:
        operation = self.get(job.operation)
        return operation.plan(job, operation.validate(job.params), stage, previous)

    def substitute(
        self, job: JobRecord, task: TaskRecord, error: TileworkError
    ) -> PlannedTask | None:
        operation = self.get(job.operation)
        return operation.substitute(job, operation.validate(job.params), task, error)


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
