"""What a job costs a key that counts credits: one credit per output megapixel, at least one."""

from __future__ import annotations

MINIMUM_COST = 1.0
CREDITS_PER_MEGAPIXEL = 1.0


def megapixel_cost(pixels: float) -> float:
    return max(MINIMUM_COST, round(pixels / 1e6 * CREDITS_PER_MEGAPIXEL, 4))
