"""Open untrusted images: allow-listed loader, pixel limit from the header, strict decoding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyvips

from tilework.core.errors import ErrorCode, TileworkError
from tilework.core.formats import InputFormat, sniff_file
from tilework.imaging.header import check_pixels, read_size

# Loader options for every decode: a truncated or damaged file is an error, never grey pixels.
STRICT_LOAD = "fail_on=truncated"


def harden() -> None:
    """Set libvips up for a task process: operations marked untrusted (SVG, PDF, ImageMagick,
    …) blocked, and no operation cache. The cache keeps up to 100 recent operations and 100 MB
    of their pixels for reuse, but a task process rarely repeats an operation on the same
    image, and what it kept stayed in the process: a palette task process grew from 216 to
    271 MiB over five jobs with it, against a budget of four decoded frames."""
    pyvips.block_untrusted_set(True)
    pyvips.cache_set_max(0)


@dataclass(frozen=True)
class ImageHeader:
    format: InputFormat
    width: int
    height: int
    bands: int


def probe(path: Path, max_pixels: int, max_frames: int) -> ImageHeader:
    """Read only the header, through the loader the magic bytes name, and check the size and
    the number of frames (GIF, WebP) or pages (TIFF, HEIF). The size is the upright one: EXIF
    orientations 5-8 swap the sides, as every operation applies them."""
    fmt = sniff_file(path)
    try:
        image = pyvips.Operation.call(fmt.loader, str(path), access="sequential")
    except pyvips.Error as exc:
        # libvips refuses sides past 10 million outright; the header says whether that is it.
        read_size(path, max_pixels)
        raise TileworkError(ErrorCode.CORRUPT_IMAGE, f"cannot read the {fmt.value} header") from exc
    check_pixels(image.width, image.height, max_pixels)
    frames = image.get("n-pages") if image.get_typeof("n-pages") else 1
    if frames > max_frames:
        # Only the first frame is ever decoded, but loaders walk every frame's header.
        raise TileworkError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"the image has {frames} frames or pages, more than {max_frames}",
            {"frames": frames, "max_frames": max_frames},
        )
    orientation = image.get("orientation") if image.get_typeof("orientation") else 1
    width, height = (image.height, image.width) if orientation >= 5 else (image.width, image.height)
    return ImageHeader(fmt, width, height, image.bands)


def srgb8(image: pyvips.Image) -> pyvips.Image:
    """Upright 8-bit sRGB, alpha kept: the form every operation works in."""
    image = image.autorot()
    if image.interpretation != "srgb" or image.format != "uchar" or image.bands < 3:
        image = image.colourspace("srgb")
    image = image.cast("uchar") if image.format != "uchar" else image
    return image[:4] if image.bands > 4 else image


# libvips reports decoding failures through the loader's name; anything else is our pipeline's.
_DECODER_WORDS = ("load", "jpeg", "png", "webp", "gif", "tiff", "heif", "premature", "truncated")


def pipeline_error(exc: pyvips.Error) -> TileworkError:
    """What a libvips failure in a lazy load-process-save pipeline means to the user."""
    detail = _first_detail(exc)
    if any(word in detail.lower() for word in _DECODER_WORDS):
        return TileworkError(ErrorCode.CORRUPT_IMAGE, f"the image data is damaged: {detail}")
    return TileworkError(ErrorCode.PIPELINE_ERROR, f"image processing failed: {detail}")


@contextmanager
def vips_errors() -> Iterator[None]:
    """Raise a libvips failure inside the block as ``pipeline_error`` (or ``corrupt_image``)."""
    try:
        yield
    except pyvips.Error as exc:
        raise pipeline_error(exc) from exc


def _first_detail(exc: pyvips.Error) -> str:
    lines = [line.strip() for line in (exc.detail or str(exc)).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"
