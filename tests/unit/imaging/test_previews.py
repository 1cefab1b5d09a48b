"""The console's previews (``imaging.previews``): a thumbnail's bounds, and a comparison that
shows the same region before and after."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

from tests.support import images
from tilework.imaging.previews import (
    REGION_PIXELS,
    THUMBNAIL_PIXELS,
    Preview,
    comparison,
    thumbnail,
)


def pixels(preview: Preview) -> np.ndarray:
    image = pyvips.Image.new_from_buffer(preview.data, "")
    shape = (image.height, image.width, image.bands)
    return np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=shape).astype(float)


def test_a_thumbnail_fits_the_bound_and_keeps_the_shape(tmp_path: Path) -> None:
    wide = thumbnail(images.photo(tmp_path / "wide.png", 800, 200))
    assert (wide.width, wide.height) == (THUMBNAIL_PIXELS, THUMBNAIL_PIXELS // 4)
    small = thumbnail(images.photo(tmp_path / "small.png", 40, 30))
    assert (small.width, small.height) == (40, 30)  # never enlarged
    assert wide.media_type == "image/webp" and wide.data[8:12] == b"WEBP"


@pytest.mark.parametrize("scale", [2, 4])
def test_the_comparison_is_the_same_region_before_and_after(tmp_path: Path, scale: int) -> None:
    source = images.photo(tmp_path / "in.png", 120, 90)
    output = tmp_path / "out.png"
    pyvips.Image.new_from_file(str(source)).resize(scale, kernel="cubic").pngsave(str(output))
    before, after = comparison(source, output)
    assert (before.width, before.height) == (after.width, after.height) == (REGION_PIXELS,) * 2
    # The output is the input enlarged the same way: the crops agree but for WebP's loss; a
    # region off by a few pixels would not.
    assert np.abs(pixels(before) - pixels(after)).mean() < 6
    shifted = pyvips.Image.new_from_file(str(output)).embed(8, 0, scale * 120, scale * 90)
    shifted.pngsave(str(tmp_path / "shifted.png"))
    _, off = comparison(source, tmp_path / "shifted.png")
    assert np.abs(pixels(before) - pixels(off)).mean() > 6
