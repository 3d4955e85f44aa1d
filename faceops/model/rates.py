"""Error rates with their sample size and a 95 % Wilson interval: 1 false accept in 10 stranger faces is not 10 %
of anything a gate can act on, and the interval says so."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval


def wilson_interval(errors: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of `errors` in `n`; (0, 1) when there is no sample (it says nothing)."""
    if n <= 0:
        return 0.0, 1.0
    share = errors / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    """`errors` in `n` trials, as a share with its 95 % interval."""

    errors: int
    n: int

    @property
    def value(self) -> float | None:
        return self.errors / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.errors, self.n)

    def versus(self, cap: float) -> str:
        """Against a cap: 'above' (the interval's lower bound is over it), 'within' (the point is at most the cap
        and the interval is narrow enough to tell), 'over' (the point is over it, narrowly), or 'unmeasurable' (no
        sample, or an interval wider than the cap itself, which could hold both a pass and a fail)."""
        low, high = self.interval
        if self.n == 0:
            return "unmeasurable"
        if low > cap:
            return "above"
        if high - low > cap:
            return "unmeasurable"
        return "within" if self.errors / self.n <= cap else "over"
