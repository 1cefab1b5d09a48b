"""The feathered weights that blend neighbouring tiles where they overlap."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tilework.imaging.tiles import Span

Weights = npt.NDArray[np.float32]


def span_weights(span: Span, scale: int) -> Weights:
    """Feathered weights over the padded span at output resolution.

    Inside the core the weight is 1; across each overlap (where a neighbour also has pixels) it
    ramps linearly down to 0 at the padded edge, exactly mirroring the neighbour's ramp, so the
    pixels a network saw with the least context count the least. The stitch still divides by the
    sum of weights, so clipped spans at the image border need no special case.
    """
    length = (span.hi - span.lo) * scale
    ramp = np.ones(length, dtype=np.float32)
    left = 2 * (span.start - span.lo) * scale
    if left:
        rising = _rising(left)[:length]
        ramp[: rising.size] = np.minimum(ramp[: rising.size], rising)
    right = 2 * (span.hi - span.end) * scale
    if right:
        falling = _rising(right)[::-1][-length:]
        ramp[length - falling.size :] = np.minimum(ramp[length - falling.size :], falling)
    return ramp


def _rising(count: int) -> Weights:
    """``count`` weights rising from near 0 to near 1, sampled at pixel centres."""
    return ((np.arange(count, dtype=np.float32) + 0.5) / count).astype(np.float32)
