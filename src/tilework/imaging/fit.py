"""How an image goes into a box: the ``fit`` parameter (kept apart from libvips so that
validating it needs no image library)."""

from __future__ import annotations

from enum import StrEnum


class Fit(StrEnum):
    CONTAIN = "contain"  # inside the box, aspect kept
    COVER = "cover"  # fills the box, aspect kept, centre cropped
    FILL = "fill"  # exactly the box, aspect ignored
