"""``resize``'s parameters: the box to fit the image into, how, and the output's encoding."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tilework.core.formats import OutputFormat
from tilework.imaging.fit import Fit

MAX_SIDE = 65_500  # JPEG's limit, and well past any sane thumbnail


class ResizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"width": 512}]})

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
