"""How an integer scale is reached with a model's native factors."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement
from math import prod


@dataclass(frozen=True)
class Passes:
    """Network passes in run order, then a lanczos resample making up the exact scale."""

    factors: tuple[int, ...]
    resample: float = 1.0

    @property
    def reach(self) -> int:
        return prod(self.factors)


MAX_PASSES = 4


def plan_passes(scale: int, natives: tuple[int, ...]) -> Passes:
    """The cheapest way to reach ``scale`` with ``natives``.

    The smallest product of native factors that reaches the scale wins (fewest passes on a tie);
    if it overshoots, a final lanczos downscale lands on the exact scale — what Real-ESRGAN does
    with an ``outscale`` below the network's. Passes run smallest factor first: every pass costs
    a network run over its *input*, so growing the image late is cheapest (12 = 3·4 runs the
    second pass on 9× the source area, 4·3 on 16×).
    """
    if not natives:
        return Passes((), float(scale))
    best: tuple[int, ...] | None = None
    for count in range(1, MAX_PASSES + 1):
        for factors in combinations_with_replacement(sorted(natives), count):
            if prod(factors) >= scale and (best is None or prod(factors) < prod(best)):
                best = factors
    if best is None:  # beyond reach even with MAX_PASSES of the largest factor
        best = (max(natives),) * MAX_PASSES
    return Passes(best, scale / prod(best))
