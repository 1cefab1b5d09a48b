"""``resize``: fit an image into a box and re-encode it."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import pyvips
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import OutputFormat
from tilework.core.jobs import JsonDict
from tilework.imaging.decode import pipeline_error, probe
from tilework.imaging.encode import normalize, save
from tilework.imaging.resize import Fit, output_size, thumbnail
from tilework.ops.base import SingleTaskOperation, TaskContext
from tilework.ops.inputs import local_input

MAX_SIDE = 65_500  # JPEG's limit, and well past any sane thumbnail


class ResizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int | None = Field(None, ge=1, le=MAX_SIDE, description="Box width in pixels.")
    height: int | None = Field(None, ge=1, le=MAX_SIDE, description="Box height in pixels.")
    fit: Fit = Field(Fit.CONTAIN, description="contain, cover or fill.")
    format: OutputFormat = Field(OutputFormat.JPEG, description="Output format.")
    quality: int = Field(85, ge=1, le=100, description="Encoder quality (JPEG, WebP, AVIF).")

    @model_validator(mode="after")
    def _box(self) -> Self:
        if self.width is None and self.height is None:
            raise ValueError("give width, height or both")
        if self.fit is not Fit.CONTAIN and (self.width is None or self.height is None):
            raise ValueError(f"fit={self.fit.value} needs both width and height")
        return self


class Resize(SingleTaskOperation[ResizeParams]):
    name = "resize"
    Params = ResizeParams

    def run(self, ctx: TaskContext[ResizeParams]) -> JsonDict:
        params = ctx.params
        with ctx.scratch_file(f".{params.format.extension}") as target:
            with local_input(ctx) as source:
                with ctx.step("probe"):
                    header = probe(source, ctx.settings.max_input_pixels)
                width, height = output_size(header, params.width, params.height, params.fit)
                _check_output(width, height, ctx.settings.max_output_pixels)
                with ctx.step("resize"):  # decode, shrink and encode all happen while saving
                    _render(source, target, params)
            return {"outputs": [ctx.store_output(target, params.format, width, height)]}


def _render(source: Path, target: Path, params: ResizeParams) -> None:
    try:
        image = thumbnail(source, params.width, params.height, params.fit)
        save(normalize(image, params.format), target, params.format, params.quality)
    except pyvips.Error as exc:
        raise pipeline_error(exc) from exc


def _check_output(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"the output would be {width}x{height}, more than {max_pixels} pixels",
            {"width": width, "height": height, "max_pixels": max_pixels},
        )


operation = Resize()
