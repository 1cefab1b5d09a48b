"""Operations that misbehave on purpose, loaded with TILEWORK_PLUGINS=["tests.support.testops"]."""

from __future__ import annotations

import os
import signal
import time

from pydantic import BaseModel, ConfigDict, Field

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import OutputFormat
from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.ops.base import Operation, SingleTaskOperation, TaskContext
from tilework.ops.upscale.operation import Upscale
from tilework.ops.upscale.params import UpscaleParams

TEST_PLUGINS = [__name__]  # the plugins setting that loads this module


class FlakyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_attempts: int = Field(1, ge=0)
    code: ErrorCode = ErrorCode.PIPELINE_ERROR


class Flaky(SingleTaskOperation[FlakyParams]):
    """Fails its first ``fail_attempts`` attempts with ``code``, then succeeds."""

    name = "test_flaky"
    Params = FlakyParams

    def run(self, ctx: TaskContext[FlakyParams]) -> JsonDict:
        if ctx.task.attempts <= ctx.params.fail_attempts:
            raise TileworkError(ctx.params.code, f"planned failure on attempt {ctx.task.attempts}")
        return {"outputs": [], "attempt": ctx.task.attempts}


class CrashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crash_attempts: int = Field(1, ge=0)


class Crash(SingleTaskOperation[CrashParams]):
    """Its process dies of SIGSEGV on the first ``crash_attempts`` attempts."""

    name = "test_crash"
    Params = CrashParams

    def run(self, ctx: TaskContext[CrashParams]) -> JsonDict:
        if ctx.task.attempts <= ctx.params.crash_attempts:
            os.kill(os.getpid(), signal.SIGSEGV)
        return {"outputs": []}


class SleepParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(1.0, ge=0)


class Sleep(SingleTaskOperation[SleepParams]):
    """Sleeps, then stores a small deterministic output."""

    name = "test_sleep"
    Params = SleepParams

    def run(self, ctx: TaskContext[SleepParams]) -> JsonDict:
        time.sleep(ctx.params.seconds)
        path = ctx.scratch / f"sleep-{os.getpid()}"
        path.write_bytes(f"slept {ctx.params.seconds}".encode())
        stored = ctx.objects.put_file(ctx.output_key("output.txt"), path)
        output = {
            "name": "output",
            "key": stored.key,
            "bytes": stored.bytes,
            "sha256": stored.sha256,
        }
        return {"outputs": [output]}


class Spin(SingleTaskOperation[SleepParams]):
    """Keeps a core busy for ``seconds`` of wall time: CPU burnt, nothing else."""

    name = "test_spin"
    Params = SleepParams

    def run(self, ctx: TaskContext[SleepParams]) -> JsonDict:
        until = time.monotonic() + ctx.params.seconds
        turns = 0
        while time.monotonic() < until:
            turns += 1
        return {"outputs": [], "turns": turns}


class FanoutParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tasks: int = Field(8, ge=1, le=1000)
    seconds: float = Field(0.1, ge=0)


class Fanout(Operation[FanoutParams]):
    """One stage of ``tasks`` tasks that each sleep ``seconds``: steady, countable progress."""

    name = "test_fanout"
    Params = FanoutParams

    def plan(
        self, job: JobRecord, params: FanoutParams, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        if stage == 0:
            return NextStage([PlannedTask("sleep", {"index": i}) for i in range(params.tasks)])
        return Finished([])

    def run(self, ctx: TaskContext[FanoutParams]) -> JsonDict:
        time.sleep(ctx.params.seconds)
        return {"index": ctx.task.payload["index"]}


class BrokenTilesParams(UpscaleParams):
    broken_tiles: list[int] = Field(default_factory=list)


class BrokenTiles(Upscale):
    """``upscale`` whose tiles in ``broken_tiles`` always fail (their lanczos fallback works)."""

    name = "test_broken_tiles"
    Params = BrokenTilesParams  # type: ignore[assignment]

    def run(self, ctx: TaskContext[UpscaleParams]) -> JsonDict:
        params = ctx.params
        assert isinstance(params, BrokenTilesParams)
        payload = ctx.task.payload
        broken = payload.get("index") in params.broken_tiles
        if ctx.task.kind == "tile" and broken and not payload.get("fallback"):
            raise TileworkError(ErrorCode.PIPELINE_ERROR, f"tile {payload['index']} broke")
        return super().run(ctx)


class OversizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    declared_pixels: int = Field(2_000_000, ge=0)
    side: int = Field(2000, ge=1, le=4000)


class Oversize(SingleTaskOperation[OversizeParams]):
    """Declares ``declared_pixels`` of output, its price, and makes a ``side`` × ``side`` PNG:
    an operation that makes more than it declared, which no built-in one does."""

    name = "test_oversize"
    Params = OversizeParams

    def output_pixels(self, params: OversizeParams, size: tuple[int, int]) -> float:
        return float(params.declared_pixels)

    def run(self, ctx: TaskContext[OversizeParams]) -> JsonDict:
        import pyvips  # only in the task process, as the built-in operations do

        side = ctx.params.side
        with ctx.scratch_file(".png") as path:
            pyvips.Image.black(side, side).write_to_file(str(path))
            output = ctx.store_output(path, OutputFormat.PNG, side, side)
        return {"outputs": [output]}


operations = [Flaky(), Crash(), Sleep(), Spin(), Fanout(), BrokenTiles(), Oversize()]
