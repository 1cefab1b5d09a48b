"""Strips computed in Python reach libvips encoders intact, and their errors come back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import pyvips

from tests.support.pixels import pixels
from tilework.imaging.pngstream import PixelStream


@pytest.mark.parametrize("bands", [3, 4])
def test_strips_round_trip_through_an_encoder(tmp_path: Path, bands: int) -> None:
    expected = np.random.default_rng(1).integers(0, 256, (70, 33, bands), dtype=np.uint8)
    stream = PixelStream(33, 70, bands, (expected[i : i + 16] for i in range(0, 70, 16)))
    stream.image.write_to_file(str(tmp_path / "out.tif"))
    stream.check()
    assert np.array_equal(pixels(pyvips.Image.new_from_file(str(tmp_path / "out.tif"))), expected)


def test_an_error_while_computing_a_strip_is_raised_by_check(tmp_path: Path) -> None:
    def strips() -> Iterator[np.ndarray]:
        yield np.zeros((8, 10, 3), dtype=np.uint8)
        raise OSError("tile storage went away")

    stream = PixelStream(10, 40, 3, strips())
    with pytest.raises(pyvips.Error):
        stream.image.write_to_file(str(tmp_path / "out.png"))
    with pytest.raises(OSError, match="went away"):
        stream.check()
