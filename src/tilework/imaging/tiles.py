"""The tile grid of a tiled upscale and the feathered weights that blend neighbouring tiles.

Geometry only (no pixels), so the planner can lay tiles out inside a queue transaction. Source
coordinates are integers; a tile's output is its padded source box times the integer scale, so
tile edges land on whole output pixels and neighbours agree on where they overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

Weights = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Span:
    """One axis of a tile: its core ``[start, end)`` and the padded ``[lo, hi)`` it is cut with."""

    start: int
    end: int
    lo: int
    hi: int

    def weights(self, scale: int) -> Weights:
        """Feathered weights over the padded span at output resolution.

        Inside the core the weight is 1; across each overlap (where a neighbour also has pixels)
        it ramps linearly down to 0 at the padded edge, exactly mirroring the neighbour's ramp,
        so the pixels a network saw with the least context count the least. The stitch still
        divides by the sum of weights, so clipped spans at the image border need no special case.
        """
        length = (self.hi - self.lo) * scale
        ramp = np.ones(length, dtype=np.float32)
        left = 2 * (self.start - self.lo) * scale
        if left:
            rising = _rising(left)[:length]
            ramp[: rising.size] = np.minimum(ramp[: rising.size], rising)
        right = 2 * (self.hi - self.end) * scale
        if right:
            falling = _rising(right)[::-1][-length:]
            ramp[length - falling.size :] = np.minimum(ramp[length - falling.size :], falling)
        return ramp


def _rising(count: int) -> Weights:
    """``count`` weights rising from near 0 to near 1, sampled at pixel centres."""
    return ((np.arange(count, dtype=np.float32) + 0.5) / count).astype(np.float32)


def split(length: int, tile: int, overlap: int) -> list[Span]:
    """Cut ``length`` into near-equal cores of at most ``tile``, each padded by ``overlap``.

    Balanced cores (rather than full tiles plus a sliver) keep the work per task even.
    """
    count = max(1, math.ceil(length / tile))
    edges = [round(i * length / count) for i in range(count + 1)]
    return [
        Span(start, end, max(0, start - overlap), min(length, end + overlap))
        for start, end in pairwise(edges)
    ]


@dataclass(frozen=True)
class Tile:
    index: int
    row: int
    col: int
    x: Span
    y: Span

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The padded source box as ``(left, top, width, height)``."""
        return self.x.lo, self.y.lo, self.x.hi - self.x.lo, self.y.hi - self.y.lo


@dataclass(frozen=True)
class TileGrid:
    width: int
    height: int
    columns: list[Span]
    rows: list[Span]

    @classmethod
    def cover(cls, width: int, height: int, tile: int, overlap: int) -> TileGrid:
        return cls(width, height, split(width, tile, overlap), split(height, tile, overlap))

    @property
    def tiles(self) -> list[Tile]:
        return [
            Tile(r * len(self.columns) + c, r, c, x, y)
            for r, y in enumerate(self.rows)
            for c, x in enumerate(self.columns)
        ]

    def __len__(self) -> int:
        return len(self.columns) * len(self.rows)
