"""What a job costs a key that counts credits: one credit per output megapixel, at least one."""

from __future__ import annotations

from typing import Any

MINIMUM_COST = 1.0
CREDITS_PER_MEGAPIXEL = 1.0


def megapixel_cost(pixels: float) -> float:
    return max(MINIMUM_COST, round(pixels / 1e6 * CREDITS_PER_MEGAPIXEL, 4))


def made_cost(outputs: list[dict[str, Any]]) -> float:
    """What a job's outputs cost: their megapixels, charged at the end of a success."""
    pixels = sum((out.get("width") or 0) * (out.get("height") or 0) for out in outputs)
    return megapixel_cost(pixels)
