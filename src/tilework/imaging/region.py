"""Where a render's texture goes: the caller's mask, or a classical estimate without one.

The estimate is a colour-similarity region grown from the middle of the picture, which is
where a render's photos (a house, a wall, a room) put the surface to re-texture:

1. the reference is the mean CIELAB colour of the central ninth of the image (the middle
   third in both directions), and its spread the RMS distance of that box's pixels from it;
2. a pixel belongs to the region when its CIE76 distance from the reference is under
   ``max(MIN_DELTA_E, SPREAD_FACTOR × spread)``, capped at ``MAX_DELTA_E``;
3. a 5×5 median filter removes speckle and fills pinholes.

It is a documented guess, not segmentation: pass ``mask_url`` where the region matters.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyvips

MIN_DELTA_E = 12.0
MAX_DELTA_E = 40.0
SPREAD_FACTOR = 2.5
MEDIAN_SIZE = 5
INSIDE = 255


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int


def estimate_region(image: pyvips.Image) -> pyvips.Image:
    """A one-band 0/255 region for an 8-bit sRGB ``image`` (see the module's method)."""
    lab = image[:3].colourspace("lab")
    third_w, third_h = max(1, image.width // 3), max(1, image.height // 3)
    box = lab.crop(image.width // 3, image.height // 3, third_w, third_h)
    reference = [box[band].avg() for band in range(3)]
    spread = (_distance(box, reference) ** 2).avg() ** 0.5
    limit = min(MAX_DELTA_E, max(MIN_DELTA_E, SPREAD_FACTOR * spread))
    region = (_distance(lab, reference) < limit).cast("uchar")  # relational ops give 0 or 255
    return region.median(MEDIAN_SIZE) if min(image.width, image.height) >= MEDIAN_SIZE else region


def mask_region(mask: pyvips.Image, width: int, height: int) -> pyvips.Image:
    """A caller's mask as a 0/255 region of ``width``×``height``: its alpha where it has one,
    else its lightness; stretched to the image's size; inside where above half."""
    plane = mask[mask.bands - 1] if mask.hasalpha() else mask.colourspace("b-w")[0]
    plane = plane.cast("uchar") if plane.format != "uchar" else plane
    if (plane.width, plane.height) != (width, height):
        plane = plane.resize(width / plane.width, vscale=height / plane.height, kernel="nearest")
    return (plane > 127).cast("uchar")


def bounding_box(region: pyvips.Image) -> Box | None:
    """The smallest box holding the whole region, or None when the region is empty."""
    if region.max() == 0:
        return None
    left, top, width, height = region.find_trim(threshold=0.5, background=[0], line_art=True)
    return Box(left, top, width, height)


def _distance(lab: pyvips.Image, reference: list[float]) -> pyvips.Image:
    difference = lab - reference
    return ((difference * difference).bandmean() * 3) ** 0.5  # bandmean is the sum / 3
