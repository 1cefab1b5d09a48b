"""Blend upscaled tiles into one output, a strip of rows at a time.

Each output strip is the weighted sum of the tiles that cover it, divided by the sum of their
weights. Tiles are opened (sequentially, as libvips reads PNG) when the first strip reaches them
and closed once the strips have passed them, so memory holds one strip of float sums plus the
decoders of at most two tile rows — never the output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyvips

from tilework.imaging.feather import Weights, span_weights
from tilework.imaging.pngstream import PixelStream, Strip
from tilework.imaging.tiles import Span, Tile, TileGrid

# Float sums of one strip: 1 MiB (libvips' own buffers grow with it, several times over).
STRIP_BYTES = 1 << 20
MIN_STRIP_ROWS, MAX_STRIP_ROWS = 8, 64

OpenTile = Callable[[Tile], AbstractContextManager[Path]]


def strip_rows(width: int, bands: int) -> int:
    rows = STRIP_BYTES // (width * bands * 4)
    return max(MIN_STRIP_ROWS, min(MAX_STRIP_ROWS, rows))


class _OpenTiles:
    """The tiles the current strip touches, opened on first use and closed when passed."""

    def __init__(self, open_tile: OpenTile, scale: int) -> None:
        self._open_tile = open_tile
        self._scale = scale
        self._images: dict[int, tuple[pyvips.Image, pyvips.Region, ExitStack]] = {}

    def rows(self, tile: Tile, top: int, bottom: int) -> npt.NDArray[np.uint8]:
        """Output rows ``[top, bottom)`` of ``tile`` (full tile width)."""
        if tile.index not in self._images:
            stack = ExitStack()
            path = stack.enter_context(self._open_tile(tile))
            image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="truncated")
            expected = (
                (tile.x.hi - tile.x.lo) * self._scale,
                (tile.y.hi - tile.y.lo) * self._scale,
            )
            if (image.width, image.height) != expected:
                stack.close()
                raise ValueError(
                    f"tile {tile.index} is {image.width}x{image.height}, not {expected}"
                )
            # One region per tile, fetched top to bottom: the decoder advances with the strips
            # instead of restarting (a new pipeline per strip would re-read a sequential PNG).
            self._images[tile.index] = (image, pyvips.Region.new(image), stack)
        image, region, _ = self._images[tile.index]
        local = top - tile.y.lo * self._scale
        data = region.fetch(0, local, image.width, bottom - top)
        return np.frombuffer(data, dtype=np.uint8).reshape(bottom - top, image.width, image.bands)

    def close_before(self, row: int, tiles: list[Tile]) -> None:
        """Close every tile that ends at or above output row ``row``."""
        for tile in tiles:
            if tile.index in self._images and tile.y.hi * self._scale <= row:
                self._images.pop(tile.index)[2].close()

    def close(self) -> None:
        for _, _, stack in self._images.values():
            stack.close()
        self._images.clear()


def blended_strips(grid: TileGrid, scale: int, bands: int, open_tile: OpenTile) -> Iterator[Strip]:
    """The output, top to bottom, as uint8 strips of ``(rows, width, bands)``."""
    width, height = grid.width * scale, grid.height * scale
    step = strip_rows(width, bands)
    tiles = grid.tiles
    weights: dict[Span, Weights] = {}

    def weight(span: Span) -> Weights:
        if span not in weights:
            weights[span] = span_weights(span, scale)
        return weights[span]

    opened = _OpenTiles(open_tile, scale)
    try:
        for top in range(0, height, step):
            bottom = min(top + step, height)
            total = np.zeros((bottom - top, width, bands), dtype=np.float32)
            norm = np.zeros((bottom - top, width), dtype=np.float32)
            for tile in tiles:
                lo, hi = max(top, tile.y.lo * scale), min(bottom, tile.y.hi * scale)
                if lo >= hi:
                    continue
                pixels = opened.rows(tile, lo, hi)
                rows = weight(tile.y)[lo - tile.y.lo * scale : hi - tile.y.lo * scale]
                mask = rows[:, None] * weight(tile.x)[None, :]
                x0, x1 = tile.x.lo * scale, tile.x.hi * scale
                total[lo - top : hi - top, x0:x1] += pixels * mask[:, :, None]
                norm[lo - top : hi - top, x0:x1] += mask
            opened.close_before(bottom, tiles)
            total /= norm[:, :, None]
            np.rint(total, out=total)
            yield np.clip(total, 0, 255).astype(np.uint8)
    finally:
        opened.close()


def stitched_image(grid: TileGrid, scale: int, bands: int, open_tile: OpenTile) -> PixelStream:
    """A sequential libvips image of the blended output, computed as it is encoded."""
    strips = blended_strips(grid, scale, bands, open_tile)
    return PixelStream(grid.width * scale, grid.height * scale, bands, strips)
