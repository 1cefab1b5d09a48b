"""``palette``: one recoloured variation of an image per palette, each its own task.

Stages: ``analyse`` (one task: fetch the input once, find its tones for every palette size),
then one task per palette (recolour, encode, upload), which run in parallel across workers while
the host's upload slots (``max_parallel_uploads``) keep the slow uploads from piling up.
See ``imaging/recolour.py`` for the method.
"""

from __future__ import annotations

from typing import ClassVar

from tilework.core.jobs import Finished, JobRecord, NextStage, PlannedTask, TaskRecord
from tilework.ops.base import CachePolicy, Operation
from tilework.ops.palette.params import PaletteParams

ANALYSE, PALETTES = range(2)


class PaletteOperation(Operation[PaletteParams]):
    name = "palette"
    Params = PaletteParams
    cache = CachePolicy.ALWAYS  # the same input and params make the same bytes
    run_module = "tilework.ops.palette.run"
    tasks: ClassVar[dict[str, str]] = {"analyse": "analyse", "palette": "recolour_one"}

    def output_pixels(self, params: PaletteParams, size: tuple[int, int]) -> float:
        return float(size[0] * size[1] * len(params.palettes))

    def stages(self, params: PaletteParams) -> list[str]:
        return ["analyse", f"palettes ×{len(params.palettes)}"]

    def plan(
        self, job: JobRecord, params: PaletteParams, stage: int, previous: list[TaskRecord]
    ) -> NextStage | Finished:
        if stage == ANALYSE:
            return NextStage([PlannedTask("analyse")])
        if stage == PALETTES:
            found = previous[0].result or {}
            return NextStage(
                [
                    PlannedTask(
                        "palette",
                        {
                            "index": index,
                            "source": found["source"],
                            "tones": found["tones"][str(len(palette))],
                        },
                    )
                    for index, palette in enumerate(params.palettes)
                ]
            )
        ordered = sorted(previous, key=lambda task: int(task.payload["index"]))
        return Finished([(task.result or {})["outputs"][0] for task in ordered])


operation = PaletteOperation()
