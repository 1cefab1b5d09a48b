"""Pass plans and tile grids: pure arithmetic, checked exhaustively where cheap."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from tilework.imaging.feather import span_weights
from tilework.imaging.tiles import TileGrid, split
from tilework.ops.upscale.passes import plan_passes

ANIME = (2, 3, 4)


@pytest.mark.parametrize(
    ("scale", "natives", "factors", "resample"),
    [
        (12, ANIME, (3, 4), 1.0),
        (16, ANIME, (4, 4), 1.0),
        (32, ANIME, (2, 4, 4), 1.0),
        (6, ANIME, (2, 3), 1.0),
        (2, ANIME, (2,), 1.0),
        (5, ANIME, (2, 3), 5 / 6),
        (12, (4,), (4, 4), 0.75),
        (2, (4,), (4,), 0.5),
        (32, (4,), (4, 4, 4), 0.5),
        (7, (), (), 7.0),
    ],
)
def test_a_scale_is_reached_with_native_factors_smallest_first(
    scale: int, natives: tuple[int, ...], factors: tuple[int, ...], resample: float
) -> None:
    passes = plan_passes(scale, natives)
    assert passes.factors == factors
    assert passes.resample == pytest.approx(resample)
    assert passes.reach * passes.resample == pytest.approx(scale)


@pytest.mark.parametrize("length", [1, 31, 64, 100, 413, 1000])
@pytest.mark.parametrize(("tile", "overlap"), [(32, 8), (48, 16), (207, 8)])
def test_spans_cover_the_axis_once_and_weights_sum_to_one(
    length: int, tile: int, overlap: int
) -> None:
    spans = split(length, tile, overlap)
    assert spans[0].start == 0 and spans[-1].end == length
    assert all(a.end == b.start for a, b in pairwise(spans))
    assert max(s.end - s.start for s in spans) - min(s.end - s.start for s in spans) <= 1
    scale = 3
    total = np.zeros(length * scale)
    for span in spans:
        total[span.lo * scale : span.hi * scale] += span_weights(span, scale)
    assert np.allclose(total, 1.0, atol=1e-5)


def test_the_seed_image_is_four_even_tiles() -> None:
    grid = TileGrid.cover(414, 413, 207, 8)
    assert len(grid) == 4
    assert grid.tiles[0].box == (0, 0, 215, 214)  # 413 rows: 206 + 207


def test_output_limits_name_a_format_that_works() -> None:
    from tilework.core.errors import TileworkError
    from tilework.ops.upscale.params import UpscaleParams, check_output

    webp = UpscaleParams(scale=32, format="webp")
    with pytest.raises(TileworkError, match="use png or tiff"):
        check_output(webp, 600, 400, 10**12)
    check_output(UpscaleParams(scale=32, format="png"), 2000, 2000, 5 * 10**9)
    with pytest.raises(TileworkError, match="TILEWORK_MAX_OUTPUT_PIXELS"):
        check_output(UpscaleParams(scale=32, format="png"), 2000, 2000, 10**9)
