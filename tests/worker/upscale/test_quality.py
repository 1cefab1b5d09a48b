"""Tiled output against one whole-image run of the same network: no seams, tiny differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

from tests.support.images import natural_photo
from tests.support.pixels import Pixels, pixels, psnr
from tests.worker.upscale.harness import Inline
from tilework.core.jobs import JobStatus
from tilework.superres.ncnn import network


def whole_image(source: Path, model: str, factors: list[int]) -> Pixels:
    """The reference: each pass as one network run over the whole (small) image."""
    rgb = pixels(pyvips.Image.new_from_file(str(source)))
    for factor in factors:
        rgb = network(model, factor, 2)._run(rgb)
    return rgb


def boundary_steps(image: Pixels, axis: int) -> np.ndarray:
    """Mean absolute step between each row (axis 0) or column (axis 1) and the next."""
    steps = np.abs(np.diff(image.astype(np.float64), axis=axis))
    return steps.mean(axis=tuple(a for a in range(steps.ndim) if a != axis))


# A seam is a step of whole grey levels; differences below this are rounding, not seams.
NOISE_LEVELS = 0.25


def assert_no_seams(tiled: Pixels, reference: Pixels, boundaries: list[int]) -> None:
    """At a tile boundary, the step between neighbouring rows/columns exceeds the reference's
    own step there by no more than it does anywhere else in the image (or than rounding)."""
    for axis in (0, 1):
        excess = np.abs(boundary_steps(tiled, axis) - boundary_steps(reference, axis))
        seam = np.zeros(excess.size, dtype=bool)
        for edge in boundaries:
            seam[edge - 2 : edge + 1] = True  # the steps into, across and out of the edge
        elsewhere = max(float(excess[~seam].max()), NOISE_LEVELS)
        assert excess[seam].max() <= elsewhere, (axis, excess[seam], excess[~seam].max())


# Each floor is the PSNR measured here less 3 dB (the networks run deterministically on the CPU;
# the margin covers other CPUs' float rounding). Measured: animevideov3 65.1 dB, x4plus 50.4 dB,
# two passes 56.9 dB. Without feathered blending (flat weights across overlaps) they fall to
# 56.9, 48.0 and 45.0 dB: the floors tell a blend from an average.
FLOOR_ANIMEVIDEOV3, FLOOR_X4PLUS, FLOOR_TWO_PASSES = 62.0, 47.0, 53.0


@pytest.mark.parametrize(
    ("model", "size", "tile", "floor"),
    [("animevideov3", 96, 48, FLOOR_ANIMEVIDEOV3), ("x4plus", 64, 32, FLOOR_X4PLUS)],
)
def test_tiled_output_matches_a_whole_image_run(
    inline: Inline, tmp_path: Path, model: str, size: int, tile: int, floor: float
) -> None:
    source = natural_photo(tmp_path / "photo.png", size, size)
    job = inline.drain(inline.submit(inline.upload(source), scale=4, model=model, tile=tile))
    assert job.status is JobStatus.SUCCEEDED, job.error_message

    tiled, reference = inline.output(job), whole_image(source, model, [4])
    assert tiled.shape == (size * 4, size * 4, 3)
    print(f"{model}: PSNR tiled vs whole image {psnr(tiled, reference):.1f} dB")
    assert psnr(tiled, reference) >= floor
    assert_no_seams(tiled, reference, [tile * 4])


def test_two_passes_match_two_whole_image_runs(inline: Inline, tmp_path: Path) -> None:
    source = natural_photo(tmp_path / "photo.png", 60, 56)
    job = inline.drain(inline.submit(inline.upload(source), scale=12, tile=32, overlap=12))
    assert job.status is JobStatus.SUCCEEDED, job.error_message
    assert job.stages == ["prepare", "tiles: animevideov3 ×3 ×4", "stitch"]

    tiled = inline.output(job)
    assert tiled.shape == (56 * 12, 60 * 12, 3)
    assert psnr(tiled, whole_image(source, "animevideov3", [3, 4])) >= FLOOR_TWO_PASSES
