"""The render pipeline's pixel steps: the region estimate, texture projection and refinement."""

from __future__ import annotations

import numpy as np
import pyvips

from tilework.imaging.projection import project, refine
from tilework.imaging.region import Box, bounding_box, estimate_region, mask_region

WIDTH, HEIGHT = 120, 90


def array(image: pyvips.Image) -> np.ndarray:
    return np.asarray(image.numpy())


def wall_photo() -> pyvips.Image:
    """A beige wall (the middle) in a blue surround, with grain and a left-to-right shadow."""
    xs = np.arange(WIDTH)[None, :, None]
    pixels = np.zeros((HEIGHT, WIDTH, 3)) + np.array([40, 70, 160])
    pixels[20:75, 25:100] = [200, 180, 150]
    pixels *= 0.6 + 0.4 * xs / WIDTH
    pixels += np.random.default_rng(3).normal(0, 3, pixels.shape)
    return pyvips.Image.new_from_array(
        np.clip(pixels, 0, 255).astype(np.uint8), interpretation="srgb"
    )


def stripes(width: int = 16) -> pyvips.Image:
    """Vertical stripes, dark then light, one pair per texture width."""
    row = np.where(np.arange(width) < width // 2, 30, 230).astype(np.uint8)
    pixels = np.repeat(np.tile(row, (width, 1))[:, :, None], 3, axis=2)
    return pyvips.Image.new_from_array(pixels, interpretation="srgb")


def test_the_estimate_finds_the_wall_in_the_middle() -> None:
    region = array(estimate_region(wall_photo())) > 0
    truth = np.zeros((HEIGHT, WIDTH), bool)
    truth[20:75, 25:100] = True
    overlap = (region & truth).sum() / (region | truth).sum()
    assert overlap > 0.9, overlap


def test_a_mask_is_read_from_alpha_or_lightness_and_stretched() -> None:
    half = np.zeros((10, 12), np.uint8)
    half[:, :6] = 255
    grey = pyvips.Image.new_from_array(half)
    region = array(mask_region(grey, 24, 20))
    assert region.shape[:2] == (20, 24)
    assert (region[:, :12] == 255).all() and (region[:, 12:] == 0).all()
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[:, 6:, 3] = 255  # opaque on the right; the colour is black everywhere
    region = array(mask_region(pyvips.Image.new_from_array(rgba, interpretation="srgb"), 12, 10))
    assert (region[:, 6:] == 255).all() and (region[:, :6] == 0).all()


def shaded_grey() -> pyvips.Image:
    """A grey surface in a shadow that lifts from left to right."""
    light = 0.5 + 0.5 * np.arange(WIDTH) / WIDTH
    pixels = np.repeat((160 * np.tile(light, (HEIGHT, 1)))[:, :, None], 3, axis=2)
    return pyvips.Image.new_from_array(pixels.astype(np.uint8), interpretation="srgb")


def test_projection_tiles_the_texture_over_the_region_only_keeping_the_shading() -> None:
    photo = shaded_grey()
    region_pixels = np.zeros((HEIGHT, WIDTH), np.uint8)
    region_pixels[:, :60] = 255
    region = pyvips.Image.new_from_array(region_pixels)
    box = bounding_box(region)
    assert box == Box(0, 0, 60, HEIGHT)
    out = array(project(photo, stripes(), region, box, scale=4))  # 4 copies: 15 px each
    assert (out[:, 60:] == array(photo)[:, 60:]).all()  # outside: untouched
    columns = out[:, :60].astype(float).mean(axis=(0, 2))
    darks = [columns[15 * copy + 1 : 15 * copy + 6].mean() for copy in range(4)]
    lights = [columns[15 * copy + 9 : 15 * copy + 14].mean() for copy in range(4)]
    # Each 15 px copy is a dark stripe then a light one ...
    assert all(dark < 0.5 * light for dark, light in zip(darks, lights, strict=True))
    # ... and the shadow still lifts to the right, on the texture as on the photo.
    assert darks == sorted(darks) and lights == sorted(lights)
    assert darks[3] > 1.2 * darks[0]


def test_refinement_is_deterministic_per_seed_and_keeps_the_outside() -> None:
    photo = wall_photo()
    region = estimate_region(photo)
    box = bounding_box(region)
    assert box is not None
    projected = project(photo, stripes(), region, box, scale=5)
    first = array(refine(photo, projected, region, seed=42))
    again = array(refine(photo, projected, region, seed=42))
    other = array(refine(photo, projected, region, seed=7))
    assert (first == again).all()
    assert (first != other).any()
    outside = array(region) == 0
    assert (first[outside] == array(photo)[outside]).all()


def test_an_empty_region_has_no_box() -> None:
    assert bounding_box(pyvips.Image.black(8, 8).cast("uchar")) is None
