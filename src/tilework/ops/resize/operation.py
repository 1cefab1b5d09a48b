"""``resize``: fit an image into a box and re-encode it. Its parameters and plan."""

from __future__ import annotations

import math
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tilework.core.formats import OutputFormat
from tilework.core.jobs import JsonDict
from tilework.imaging.fit import Fit
from tilework.ops.base import SingleTaskOperation, TaskContext

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

    def output_pixels(self, params: ResizeParams, size: tuple[int, int]) -> float:
        if params.fit is not Fit.CONTAIN and params.width and params.height:
            return float(params.width * params.height)
        width, height = size
        scale = min((params.width or math.inf) / width, (params.height or math.inf) / height)
        return width * height * scale * scale

    def run(self, ctx: TaskContext[ResizeParams]) -> JsonDict:
        # Imported here, in the task process: the API and the worker loop load this module to
        # validate, and would otherwise carry libvips for nothing.
        from tilework.ops.resize.work import resize

        return resize(ctx)


operation = Resize()
