"""How many of N hosts a percentage means: rounded down (a 1e-9 nudge so 30% of 10 is 3,
not 2 by float error), at least `at_least`.

Selections (`select: {percent: ..}`, ramp steps) take at least one host; the blast-radius
cap `max_percent` may come to none. The CLI, schedules and the AWX job all count here.
"""

from __future__ import annotations

import math


def hosts_for_percent(total: int, percent: float, at_least: int = 1) -> int:
    """The host count `percent` % of `total` hosts stands for."""
    return max(at_least, math.floor(total * percent / 100.0 + 1e-9))
