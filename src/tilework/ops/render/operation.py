"""``render``: seed 004's pipeline (lay a texture over a photo) as named, timed queue stages.

fetch → region → project → refine (only with ``enable_refinement``) → store. Each stage is one
task that reads the previous stages' images from storage and writes its own, so each has its
own timeout (``stage_timeout_seconds``), its own retries, and the job's progress names it.
The method of each step is in ``imaging/region.py`` and ``imaging/projection.py``; the same
inputs and options always give the same bytes.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.core.sources import SourceSpec
from tilework.objects.store import ObjectStore
from tilework.ops.base import Operation, TaskContext
from tilework.ops.inputs import refuse_blocked_url, require_uploaded

SAFE_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # one object key segment


class RenderOptions(BaseModel):
    """Seed 004's ``options``: how to render. ``/render/jobs`` takes exactly these."""

    model_config = ConfigDict(extra="forbid")

    real_world_scale: float = Field(24, gt=0, le=1000, description="Repeats across the region.")
    enable_refinement: bool = Field(False, description="Feather the edge and add seeded grain.")
    refinement_seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of the refinement.")
    stage_timeout_seconds: float | None = Field(
        None, gt=0, le=3600, description="Limit for each stage; past it the job fails 'timeout'."
    )


class RenderParams(RenderOptions):
    texture: SourceSpec = Field(description="The texture (swatch) to lay over the region.")
    mask: SourceSpec | None = Field(
        None, description="Where the texture goes (white, or opaque); estimated when absent."
    )
    project_id: str | None = Field(None, pattern=SAFE_ID, description="Names the result.")
    user_id: str | None = Field(None, pattern=SAFE_ID, description="Required with project_id.")

    @model_validator(mode="after")
    def _owner(self) -> Self:
        if self.project_id is not None and self.user_id is None:
            raise ValueError("user_id is required with project_id")
        return self

    def result_key(self, job_id: str) -> str | None:
        """Seed 004's path for a project's render; None for the job's usual output key."""
        if self.project_id is None:
            return None
        return f"renders/{self.user_id}/{self.project_id}-{job_id}.png"


class Render(Operation[RenderParams]):
    name = "render"
    Params = RenderParams

    def output_pixels(self, params: RenderParams, size: tuple[int, int]) -> float:
        return float(size[0] * size[1])

    def stages(self, params: RenderParams) -> list[str]:
        refine = ["refine"] if params.enable_refinement else []
        return ["fetch", "region", "project", *refine, "store"]

    def admit(
        self, params: RenderParams, source: JsonDict, objects: ObjectStore, settings: Settings
    ) -> None:
        for field, given in (("texture", params.texture), ("mask", params.mask)):
            if given is not None and given.key is not None:
                require_uploaded(objects, given.key, f"params.{field}.key")
            elif given is not None and given.url is not None:
                refuse_blocked_url(settings, str(given.url), f"params.{field}.url")

    def plan(
        self, job: JobRecord, params: RenderParams, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        names = self.stages(params)
        if stage < len(names):
            carried = (previous[0].result or {}) if previous else {}
            task = PlannedTask(names[stage], carried, params.stage_timeout_seconds)
            return NextStage([task])
        stored = previous[0].result or {}
        return Finished(stored["outputs"], stored.get("warnings", []))

    def run(self, ctx: TaskContext[RenderParams]) -> JsonDict:
        # Imported here, in the task process: the API only validates and plans.
        from tilework.ops.render.work import STAGES

        stage = STAGES.get(ctx.task.kind)
        if stage is None:
            raise TileworkError(ErrorCode.PIPELINE_ERROR, f"render has no stage {ctx.task.kind!r}")
        return stage(ctx)


operation = Render()
