"""Small images for the console: a thumbnail of any image, and an upscale's comparison (the
same region of its input, enlarged, and of its output at 1:1).

Every image is read sequentially (shrink-on-load for thumbnails, rows down to the crop for the
comparison), so a 12× output of hundreds of megapixels costs a few rows of memory, not its
frame.
"""

from __future__ import annotations

from pathlib import Path

import pyvips

from tilework.core.previews import Preview

THUMBNAIL_PIXELS = 192  # the longer side of a thumbnail
REGION_PIXELS = 160  # the side of the comparison's region, in output pixels
QUALITY = 80


def thumbnail(path: Path) -> Preview:
    """The image at ``path`` shrunk to fit ``THUMBNAIL_PIXELS`` (never enlarged)."""
    image = pyvips.Image.thumbnail(
        str(path), THUMBNAIL_PIXELS, height=THUMBNAIL_PIXELS, size="down"
    )
    return _encoded(image)


def comparison(source: Path, output: Path) -> tuple[Preview, Preview]:
    """The middle ``REGION_PIXELS`` square of ``output`` at 1:1, and the same region of
    ``source`` enlarged to the same size (bicubic): before and after, pixel for pixel."""
    after = pyvips.Image.new_from_file(str(output), access="sequential")
    before = pyvips.Image.new_from_file(str(source), access="sequential")
    scale = after.width / before.width
    side = min(REGION_PIXELS, after.width, after.height)
    left, top = (after.width - side) // 2, (after.height - side) // 2
    # The source's pixels that cover the region, whole, then enlarged and cut to it exactly.
    x0, y0 = int(left / scale), int(top / scale)
    x1 = min(before.width, int((left + side) / scale) + 1)
    y1 = min(before.height, int((top + side) / scale) + 1)
    enlarged = before.crop(x0, y0, x1 - x0, y1 - y0).resize(scale, kernel="cubic")
    dx, dy = round(left - x0 * scale), round(top - y0 * scale)
    dx, dy = min(dx, enlarged.width - side), min(dy, enlarged.height - side)
    return (
        _encoded(enlarged.crop(max(0, dx), max(0, dy), side, side)),
        _encoded(after.crop(left, top, side, side)),
    )


def _encoded(image: pyvips.Image) -> Preview:
    if image.interpretation not in ("srgb", "b-w"):
        image = image.colourspace("srgb")
    data = image.webpsave_buffer(Q=QUALITY, strip=True)
    return Preview(bytes(data), image.width, image.height)
