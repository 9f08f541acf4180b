"""Ramp steps as an experiment writes them: a host count (`1`, `2`), a percentage of the
matched hosts (`"25%"`) or `all`, and the host counts they come to. The model's part of a
ramp; running one is chaosrun.modes.ramp's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaosrun.base.errors import InvalidInput
from chaosrun.base.percent import hosts_for_percent


def parse_steps(raw: Any, where: str) -> list[int | str]:
    """Validate a ramp list as written (`[1, 2, "25%", "50%"]`)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{where}: ramp must be a non-empty list of counts or percentages")
    steps: list[int | str] = []
    for i, step in enumerate(raw):
        if isinstance(step, bool):
            raise InvalidInput(f"{where}[{i}]: expected a count or a percentage, got {step!r}")
        if isinstance(step, int) and step >= 1:
            steps.append(step)
        elif step == "all":
            steps.append("100%")
        elif isinstance(step, str) and step.strip().endswith("%"):
            try:
                pct = float(step.strip()[:-1])
            except ValueError:
                raise InvalidInput(f"{where}[{i}]: {step!r} is not a percentage") from None
            if not 0 < pct <= 100:
                raise InvalidInput(f"{where}[{i}]: {step!r} must be in (0%, 100%]")
            steps.append(f"{pct:g}%")
        else:
            raise InvalidInput(
                f"{where}[{i}]: expected a host count >= 1, a percentage like '25%' or all, "
                f"got {step!r}"
            )
    return steps


def host_counts(steps: Sequence[int | str], matched: int) -> list[int]:
    """Host counts of each step for `matched` hosts: strictly increasing, duplicates and
    steps past the matched hosts dropped (a percentage rounds down, at least 1)."""
    counts: list[int] = []
    for step in steps:
        count = hosts_for_percent(matched, float(step[:-1])) if isinstance(step, str) else step
        count = min(count, matched)
        if not counts or count > counts[-1]:
            counts.append(count)
    return counts
