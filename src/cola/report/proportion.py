"""A binomial proportion with its 95% Wilson interval: how every rate in cola is reported."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Proportion", "wilson_interval"]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for z=1.96).

    Chosen over the normal approximation because it stays inside [0, 1] and is sensible at
    0/n and n/n, which are common here (small runs, near-perfect accuracies). With no
    data (n = 0) the honest interval is the whole range (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At 0/n and n/n the bound is exactly 0 or 1; rounding would leave it a hair off (for
    # 0/11 the formula gives 2.8e-17), outside the estimate, and plots of p - low would break.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (min(low, p), max(high, p))


@dataclass(frozen=True)
class Proportion:
    """``successes / n`` with its Wilson interval; ``value``, ``low`` and ``high`` are None when n = 0."""

    successes: int
    n: int

    @property
    def value(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.successes, self.n) if self.n else None

    @property
    def low(self) -> float | None:
        return self.interval[0] if self.n else None  # type: ignore[index]

    @property
    def high(self) -> float | None:
        return self.interval[1] if self.n else None  # type: ignore[index]
