"""``resize``: fit an image into a box and re-encode it, as one task (``run``)."""

from __future__ import annotations

import math
from typing import ClassVar

from tilework.imaging.fit import Fit
from tilework.ops.base import CachePolicy, SingleTaskOperation
from tilework.ops.resize.params import ResizeParams


class Resize(SingleTaskOperation[ResizeParams]):
    name = "resize"
    Params = ResizeParams
    cache = CachePolicy.ALWAYS  # the same input and params make the same bytes
    run_module = "tilework.ops.resize.run"
    tasks: ClassVar[dict[str, str]] = {"resize": "resize"}

    def output_pixels(self, params: ResizeParams, size: tuple[int, int]) -> float:
        if params.fit is not Fit.CONTAIN and params.width and params.height:
            return float(params.width * params.height)
        width, height = size
        scale = min((params.width or math.inf) / width, (params.height or math.inf) / height)
        return width * height * scale * scale


operation = Resize()
