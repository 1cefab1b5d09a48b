"""``render``: the texture render (lay a texture over a photo) as named, timed queue stages.

fetch → region → project → refine (only with ``enable_refinement``) → store. Each stage is one
task that reads the previous stages' images from storage and writes its own, so each has its
own timeout (``stage_timeout_seconds``), its own retries, and the job's progress names it.
The stages' tasks are in ``run``, the method of each step in ``imaging/region.py`` and
``imaging/projection.py``; the same inputs and options always give the same bytes.
"""

from __future__ import annotations

from typing import ClassVar

from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.core.settings import Settings
from tilework.objects.store import ObjectStore
from tilework.ops.base import CachePolicy, Operation
from tilework.ops.inputs import refuse_blocked_url, require_uploaded
from tilework.ops.render.params import RenderParams


class Render(Operation[RenderParams]):
    name = "render"
    Params = RenderParams
    cache = CachePolicy.ALWAYS  # its grain is seeded (refinement_seed): same params, same bytes
    run_module = "tilework.ops.render.run"
    # Each stage is a task of that kind; the functions are named for what they do.
    tasks: ClassVar[dict[str, str]] = {
        "fetch": "fetch",
        "region": "region",
        "project": "projection",
        "refine": "refinement",
        "store": "store",
    }

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


operation = Render()
