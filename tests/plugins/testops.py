"""Operations that misbehave on purpose, loaded with TILEWORK_PLUGINS=["tests.plugins.testops"]."""

from __future__ import annotations

import os
import signal
import time

from pydantic import BaseModel, ConfigDict, Field

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict
from tilework.objects.keys import job_output_key
from tilework.ops.base import SingleTaskOperation, TaskContext


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
        stored = ctx.objects.put_file(job_output_key(ctx.job_id, "output.txt"), path)
        output = {
            "name": "output",
            "key": stored.key,
            "bytes": stored.bytes,
            "sha256": stored.sha256,
        }
        return {"outputs": [output]}


operations = [Flaky(), Crash(), Sleep()]
