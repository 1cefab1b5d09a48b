"""Resizing with shrink-on-load: the decoder skips what the output will not need."""

from __future__ import annotations

from pathlib import Path

import pyvips

from tilework.imaging.decode import STRICT_LOAD, ImageHeader
from tilework.imaging.fit import Fit

VIPS_MAX_COORD = 10_000_000  # "no limit" for the free side of a one-sided box


def output_size(
    header: ImageHeader, width: int | None, height: int | None, fit: Fit
) -> tuple[int, int]:
    """The size ``thumbnail`` will produce, computed before any pixel is decoded."""
    if fit is not Fit.CONTAIN and width and height:
        return width, height
    scale = min(
        (width or VIPS_MAX_COORD) / header.width, (height or VIPS_MAX_COORD) / header.height
    )
    return max(1, round(header.width * scale)), max(1, round(header.height * scale))


def thumbnail(path: Path, width: int | None, height: int | None, fit: Fit) -> pyvips.Image:
    """A lazy pipeline: nothing is decoded until the result is written."""
    options: dict[str, object] = {"height": height or VIPS_MAX_COORD, "option_string": STRICT_LOAD}
    if fit is Fit.COVER:
        options["crop"] = "centre"
    elif fit is Fit.FILL:
        options["size"] = "force"
    source = pyvips.Source.new_from_file(str(path))
    return pyvips.Image.thumbnail_source(source, width or VIPS_MAX_COORD, **options)
