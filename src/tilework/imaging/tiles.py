"""The tile grid of a tiled upscale.

Geometry only (no pixels, no numpy), so the planner can lay tiles out inside a queue
transaction. Source coordinates are integers; a tile's output is its padded source box times
the integer scale, so tile edges land on whole output pixels and neighbours agree on where
they overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Span:
    """One axis of a tile: its core ``[start, end)`` and the padded ``[lo, hi)`` it is cut with."""

    start: int
    end: int
    lo: int
    hi: int


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
