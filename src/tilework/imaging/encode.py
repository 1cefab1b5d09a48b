"""Normalise an image for output (8-bit sRGB, no metadata) and write it in a chosen format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyvips

from tilework.core.formats import OutputFormat

WHITE = [255, 255, 255]
PNG_COMPRESSION = 6
# libwebp's default effort is 4. At 2, a 4096² photo encoded in 0.91 s instead of 2.03 s, with
# a 107 MiB peak instead of 148 MiB, into a file 0.5% larger (measured here with libvips 8.18).
WEBP_EFFORT = 2
TIFF_BIG_BYTES = 3 << 30  # past ~3 GiB of pixels, write BigTIFF so offsets cannot overflow


def normalize(image: pyvips.Image, target: OutputFormat) -> pyvips.Image:
    """8-bit sRGB (or grey) with alpha kept only where the format has it."""
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
    if image.hasalpha() and not target.has_alpha:
        image = image.flatten(background=WHITE)
    return image.cast("uchar") if image.format != "uchar" else image


def save(image: pyvips.Image, path: Path, target: OutputFormat, quality: int) -> None:
    """Write ``image`` to ``path``; metadata is dropped (the pixels are already sRGB)."""
    image.write_to_file(str(path), **_save_options(image, target, quality))


def _save_options(image: pyvips.Image, target: OutputFormat, quality: int) -> dict[str, Any]:
    common: dict[str, Any] = {"keep": "none"}
    if target is OutputFormat.JPEG:
        return {**common, "Q": quality, "optimize_coding": True}
    if target is OutputFormat.WEBP:
        return {**common, "Q": quality, "effort": WEBP_EFFORT}
    if target is OutputFormat.AVIF:
        return {**common, "Q": quality, "compression": "av1"}
    if target is OutputFormat.TIFF:
        big = image.width * image.height * image.bands >= TIFF_BIG_BYTES
        return {**common, "compression": "deflate", "tile": True, "bigtiff": big}
    return {**common, "compression": PNG_COMPRESSION}
