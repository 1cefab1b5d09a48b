"""Recolour an image to a palette while keeping its tonal structure (a gradient map by tones).

The method, in three steps:

1. **Tones.** The image's luminance (8-bit, as libvips' ``b-w``) is clustered into as many tones
   as the palette has colours: a 1-D k-means over a 256-pixel thumbnail, started at evenly spaced
   quantiles, so the same image always gives the same tones.
2. **Pairing.** Tones and palette colours are both ordered by lightness (CIE L*); the darkest
   tone takes the darkest colour, and so on.
3. **Mapping.** Every luminance value 0-255 gets a colour: at a tone's centre, exactly its
   palette colour; between two centres, the two colours mixed in CIELAB in proportion; below the
   darkest centre the darkest colour darkens to black, above the brightest the brightest colour
   lightens to white. The mapping never reverses the order of two lightnesses, so every edge,
   shadow and texture stays where it was. It becomes a 256-entry lookup table, and applying it
   is one table lookup per pixel, streamed by libvips.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyvips

THUMBNAIL_SIDE = 256
KMEANS_ROUNDS = 30
WHITE_L = 100.0
Rgb = tuple[int, int, int]
Floats = npt.NDArray[np.float64]


def tone_sample(image: pyvips.Image) -> Floats:
    """The luminance values the tones are found from: a thumbnail's, which is plenty."""
    small = image.thumbnail_image(THUMBNAIL_SIDE)
    return np.asarray(_luminance(small).numpy(), dtype=np.float64).ravel()


def tones(sample: Floats, count: int) -> list[float]:
    """``count`` tone centres (luminance 0-255, darkest first) of a ``tone_sample``."""
    centres = np.quantile(sample, (np.arange(count) + 0.5) / count)
    for _ in range(KMEANS_ROUNDS):
        nearest = np.abs(sample[:, None] - centres[None, :]).argmin(axis=1)
        moved = np.array(
            [
                sample[nearest == i].mean() if (nearest == i).any() else centres[i]
                for i in range(count)
            ]
        )
        if np.allclose(moved, centres):
            break
        centres = moved
    return [round(float(c), 3) for c in np.sort(centres)]


def palette_lut(centres: list[float], palette: list[Rgb]) -> pyvips.Image:
    """The 256-entry table from luminance to sRGB that pairs ``centres`` with ``palette``."""
    lab = _to_lab(palette)
    lab = lab[np.argsort(lab[:, 0], kind="stable")]
    # Interpolation needs strictly rising anchors: equal tones are nudged apart.
    rising = np.asarray(centres, dtype=np.float64) + np.arange(len(centres)) * 1e-3
    xs = np.concatenate(([0.0], rising, [255.0]))
    colours = np.vstack(([0.0, 0.0, 0.0], lab, [WHITE_L, 0.0, 0.0]))
    if rising[0] <= 0.0:  # a tone at pure black keeps its colour there: no ramp below it
        xs, colours = xs[1:], colours[1:]
    if rising[-1] >= 255.0:
        xs, colours = xs[:-1], colours[:-1]
    levels = np.arange(256, dtype=np.float64)
    table = np.stack([np.interp(levels, xs, colours[:, band]) for band in range(3)], axis=-1)
    lut = pyvips.Image.new_from_array(
        table.reshape(1, 256, 3).astype(np.float32), interpretation="lab"
    )
    return lut.colourspace("srgb").cast("uchar")


def recolour(image: pyvips.Image, lut: pyvips.Image) -> pyvips.Image:
    """``image`` (8-bit sRGB or grey, alpha kept) through a table from ``palette_lut``."""
    mapped = _luminance(image).maplut(lut).copy(interpretation="srgb")
    return mapped.bandjoin(image[image.bands - 1]) if image.hasalpha() else mapped


def _luminance(image: pyvips.Image) -> pyvips.Image:
    grey = image.colourspace("b-w") if image.interpretation != "b-w" else image
    return grey[0].cast("uchar")


def _to_lab(palette: list[Rgb]) -> Floats:
    swatches = np.asarray(palette, dtype=np.uint8).reshape(1, len(palette), 3)
    image = pyvips.Image.new_from_array(swatches, interpretation="srgb")
    return np.asarray(image.colourspace("lab").numpy(), dtype=np.float64).reshape(-1, 3)
