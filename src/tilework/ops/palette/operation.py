"""``palette``: one recoloured variation of an image per palette (seed 003), each its own task.

Stages: ``analyse`` (one task: fetch the input once, find its tones for every palette size),
then one task per palette (recolour, encode, upload), which run in parallel across workers while
the host's upload slots (``max_parallel_uploads``) keep the slow uploads from piling up.
See ``imaging/recolour.py`` for the method.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import OutputFormat
from tilework.core.jobs import Finished, JobRecord, JsonDict, NextStage, PlannedTask, TaskRecord
from tilework.ops.base import Operation, TaskContext

MAX_PALETTES = 32
MAX_COLOURS = 16
HEX_DIGITS = frozenset("0123456789abcdef")
ANALYSE, PALETTES = range(2)


def hex_colour(text: str) -> str:
    """``#rrggbb`` or ``#rgb``, ``#`` optional, any case: normalised to ``#rrggbb``."""
    digits = text.lower().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(2 * digit for digit in digits)
    if len(digits) != 6 or not set(digits) <= HEX_DIGITS:
        raise ValueError(f"{text!r} is not a hex colour like #1a2b3c")
    return f"#{digits}"


def rgb(colour: str) -> tuple[int, int, int]:
    """A normalised ``#rrggbb`` as integers."""
    value = int(colour[1:], 16)
    return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


Colour = Annotated[str, AfterValidator(hex_colour)]
Palette = Annotated[list[Colour], Field(min_length=1, max_length=MAX_COLOURS)]


class PaletteFormat(StrEnum):
    WEBP = "webp"
    PNG = "png"


class PaletteParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    palettes: list[Palette] = Field(
        min_length=1,
        max_length=MAX_PALETTES,
        description="Palettes, each a list of hex colours; one output per palette, in order.",
    )
    format: PaletteFormat = Field(PaletteFormat.WEBP, description="webp or png.")
    quality: int = Field(80, ge=1, le=100, description="WebP quality (PNG is lossless).")

    @property
    def output_format(self) -> OutputFormat:
        return OutputFormat(self.format.value)


class PaletteOperation(Operation[PaletteParams]):
    name = "palette"
    Params = PaletteParams

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

    def run(self, ctx: TaskContext[PaletteParams]) -> JsonDict:
        # Imported here, in the task process: the API only validates and plans.
        from tilework.ops.palette.work import analyse, recolour_one

        if ctx.task.kind == "analyse":
            return analyse(ctx)
        if ctx.task.kind == "palette":
            return recolour_one(ctx)
        raise TileworkError(ErrorCode.PIPELINE_ERROR, f"palette has no task kind {ctx.task.kind!r}")


operation = PaletteOperation()
