"""The ``resize`` task: probe, shrink-on-load and encode, in one libvips pipeline."""

from __future__ import annotations

from pathlib import Path

import pyvips

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.jobs import JsonDict
from tilework.imaging.decode import pipeline_error, probe
from tilework.imaging.encode import normalize, save
from tilework.imaging.resize import output_size, thumbnail
from tilework.ops.base import TaskContext
from tilework.ops.inputs import local_input
from tilework.ops.resize.params import ResizeParams


def resize(ctx: TaskContext[ResizeParams]) -> JsonDict:
    params = ctx.params
    with ctx.scratch_file(f".{params.format.extension}") as target:
        with local_input(ctx) as source:
            with ctx.step("probe"):
                header = probe(source, ctx.settings.max_input_pixels, ctx.settings.max_input_frames)
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
