"""Lay a texture over a region of a photo, keeping the photo's shading; refine the seams.

Projection: the texture is scaled so that ``real_world_scale`` copies span the region's width,
repeated from the region's top-left corner, and multiplied by the photo's shading there: the
photo's luminance divided by its mean luminance inside the region, so shadows and highlights
fall on the texture where they fell on the original surface. Outside the region the photo is
untouched.

Refinement (optional, seeded): the region's edge is feathered (a Gaussian of ``FEATHER_SIGMA``
pixels, inward) and a fine grain of ``GRAIN_SIGMA`` levels, drawn from the seed, is laid over
the textured area so that it does not look flatter than the photo around it. The same seed
gives the same pixels: libvips derives each noise value from the seed and the pixel's position.
"""

from __future__ import annotations

import math

import pyvips

from tilework.imaging.region import Box

MAX_SHADING = 2.5  # a specular highlight must not turn the texture white
FEATHER_SIGMA = 1.5
GRAIN_SIGMA = 3.0


def project(
    image: pyvips.Image, texture: pyvips.Image, region: pyvips.Image, box: Box, scale: float
) -> pyvips.Image:
    """``image`` (8-bit sRGB) with ``texture`` laid over ``region`` (0/255) within ``box``."""
    tiled = _tiled(texture, box, scale, image.width, image.height)
    inside = region / 255.0
    luminance = image.colourspace("b-w")[0].cast("float")
    mean = max((luminance * inside).avg() / max(inside.avg(), 1e-9), 1e-9)
    shading = luminance / mean
    shading = (shading > MAX_SHADING).ifthenelse(MAX_SHADING, shading)
    shaded = tiled * shading
    return _blend(image, shaded, inside)


def refine(
    image: pyvips.Image, projected: pyvips.Image, region: pyvips.Image, seed: int
) -> pyvips.Image:
    """Feather the region's edge and grain the textured area, deterministically from ``seed``."""
    inside = region.gaussblur(FEATHER_SIGMA).cast("float") / 255.0
    inside = (region / 255.0) * inside  # inward only: nothing spills past the region
    grain = pyvips.Image.gaussnoise(image.width, image.height, sigma=GRAIN_SIGMA, mean=0, seed=seed)
    grained = projected.cast("float") + grain
    return _blend(image, grained, inside)


def _tiled(texture: pyvips.Image, box: Box, scale: float, width: int, height: int) -> pyvips.Image:
    """The texture repeated over the whole image, a copy's corner at the box's corner."""
    side = max(1.0, box.width / scale)
    copy = texture.resize(side / texture.width)
    across = math.ceil(width / copy.width) + 2
    down = math.ceil(height / copy.height) + 2
    left = copy.width - box.left % copy.width
    top = copy.height - box.top % copy.height
    return copy.replicate(across, down).crop(left % copy.width, top % copy.height, width, height)


def _blend(image: pyvips.Image, over: pyvips.Image, alpha: pyvips.Image) -> pyvips.Image:
    mixed = image.cast("float") * (1.0 - alpha) + over * alpha
    return mixed.cast("uchar").copy(interpretation="srgb")
