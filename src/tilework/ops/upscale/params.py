"""The parameters of ``upscale`` and the output limits checked before any work starts."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import OutputFormat
from tilework.imaging.tiles import TileGrid
from tilework.ops.upscale.passes import Passes, plan_passes
from tilework.superres.catalog import MODELS


class UpscaleModel(StrEnum):
    ANIMEVIDEOV3 = "animevideov3"
    X4PLUS = "x4plus"
    X4PLUS_ANIME = "x4plus-anime"
    LANCZOS = "lanczos"


class TileFailure(StrEnum):
    FAIL = "fail"
    FALLBACK = "fallback"


# Source pixels per tile side, by model: a tile's padded output stays near 2–3k pixels a side
# and a network run's working set stays small (x4plus's RRDB activations are ~20× animevideov3's).
DEFAULT_TILE_OUTPUT = {UpscaleModel.ANIMEVIDEOV3: 2560, UpscaleModel.X4PLUS: 1024}
DEFAULT_OVERLAP = 8
MIN_TILE, MAX_TILE = 32, 1024

# Encoders that cannot write past a side length; PNG and (Big)TIFF have no such limit.
SIDE_LIMITS = {OutputFormat.JPEG: 65_500, OutputFormat.WEBP: 16_383, OutputFormat.AVIF: 16_384}


class UpscaleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale: int = Field(4, ge=2, le=32, description="Integer scale factor.")
    model: UpscaleModel = Field(UpscaleModel.ANIMEVIDEOV3, description="Super-resolution model.")
    format: OutputFormat = Field(OutputFormat.PNG, description="Output format.")
    quality: int = Field(90, ge=1, le=100, description="Encoder quality (JPEG, WebP, AVIF).")
    tile: int | None = Field(
        None, ge=MIN_TILE, le=MAX_TILE, description="Tile side in source pixels (default: auto)."
    )
    overlap: int | None = Field(
        None, ge=0, le=128, description="Overlap with each neighbour, source pixels."
    )
    on_tile_failure: TileFailure = Field(
        TileFailure.FAIL,
        description="fail: a tile out of attempts fails the job; fallback: render it with lanczos.",
    )
    provider: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="A configured remote provider (TILEWORK_PROVIDERS) that upscales the tiles.",
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> Self:
        if self.tile is not None and 2 * self.tile_overlap > self.tile:
            raise ValueError("overlap must be at most half of tile")
        if self.provider is not None and not self.neural:
            raise ValueError("a provider runs a model: lanczos has none to hand over")
        return self

    @property
    def neural(self) -> bool:
        return self.model is not UpscaleModel.LANCZOS

    @property
    def passes(self) -> Passes:
        natives = MODELS[self.model.value].factors if self.neural else ()
        return plan_passes(self.scale, natives)

    @property
    def tile_overlap(self) -> int:
        return DEFAULT_OVERLAP if self.overlap is None else self.overlap

    @property
    def tile_side(self) -> int:
        if self.tile is not None:
            return self.tile
        budget = DEFAULT_TILE_OUTPUT.get(self.model, DEFAULT_TILE_OUTPUT[UpscaleModel.X4PLUS])
        side = budget // self.scale
        return max(MIN_TILE, 2 * self.tile_overlap, min(MAX_TILE, side))

    def grid(self, width: int, height: int) -> TileGrid:
        """The tiles of a ``width`` × ``height`` input: the planner's and the tasks' one layout."""
        return TileGrid.cover(width, height, self.tile_side, self.tile_overlap)


def check_output(params: UpscaleParams, width: int, height: int, max_pixels: int) -> None:
    """Refuse an output no encoder here can write, naming what would work."""
    out_w, out_h = width * params.scale, height * params.scale
    if out_w * out_h > max_pixels:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"the output would be {out_w}x{out_h}, more than {max_pixels} pixels "
            "(TILEWORK_MAX_OUTPUT_PIXELS)",
            _field("params.scale", "output too large", out_w, out_h),
        )
    limit = SIDE_LIMITS.get(params.format)
    if limit is not None and max(out_w, out_h) > limit:
        raise TileworkError(
            ErrorCode.VALIDATION_FAILED,
            f"{params.format.value} cannot be wider or taller than {limit} pixels and the "
            f"output would be {out_w}x{out_h}: use png or tiff, which have no such limit",
            _field("params.format", f"at most {limit} pixels a side", out_w, out_h),
        )


def _field(name: str, message: str, width: int, height: int) -> dict[str, object]:
    return {"errors": [{"field": name, "message": message}], "width": width, "height": height}
