"""``noop``: tasks that do nothing (or sleep), for measuring the queue and checking a deployment."""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.ops.base import Operation, TaskContext

MAX_TASKS = 10_000


class NoopParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: int = Field(1, ge=1, le=MAX_TASKS, description="Tasks per stage.")
    stages: int = Field(1, ge=1, le=10, description="Stages, each fanning in before the next.")
    sleep_ms: int = Field(0, ge=0, le=600_000, description="How long each task sleeps.")


class Noop(Operation[NoopParams]):
    name = "noop"
    Params = NoopParams

    def stages(self, params: NoopParams) -> list[str]:
        return [f"stage{index + 1}" for index in range(params.stages)]

    def plan(
        self, job: JobRecord, params: NoopParams, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        if stage == params.stages:
            return Finished([])
        return NextStage([PlannedTask("noop", {"n": n}) for n in range(params.tasks)])

    def run(self, ctx: TaskContext[NoopParams]) -> JsonDict:
        if ctx.params.sleep_ms:  # even sleep(0) costs a timer slack, about 80 µs on Linux
            with ctx.step("sleep"):
                time.sleep(ctx.params.sleep_ms / 1000)
        return {"n": ctx.task.payload["n"]}


operation = Noop()
