"""What a probe's thresholds mean: `max`, `min`, and the baseline-relative `max_increase`
and `max_decrease` (a number, or a percentage of the baseline like "50%").

The one place that rule lives: the probes judge samples with it while a run goes, the
reports draw limits from the journal with it, and a playbook that judges with the
collection's probe modules passes them `limit(baseline)`, which judges the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEYS = ("max", "min", "max_increase", "max_decrease")
RELATIVE_KEYS = ("max_increase", "max_decrease")


@dataclass(frozen=True)
class Amount:
    """How far a value may move from its baseline: an absolute step or a percentage."""

    value: float
    percent: bool

    def of(self, baseline: float) -> float:
        """The step in the probe's unit for this baseline."""
        return abs(baseline) * self.value / 100.0 if self.percent else self.value


def parse_amount(value: Any) -> Amount:
    """An Amount from a number or a text like "50%"; ValueError says what was wrong."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            number = float(value.strip()[:-1])
        except ValueError:
            number = -1.0
        if not number >= 0 or math.isinf(number):
            raise ValueError(f"expected a number or a percentage like 50%, got {value!r}")
        return Amount(number, True)
    if isinstance(value, str):  # a number written as text, as older journals may hold
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected a number or a percentage like 50%, got {value!r}") from None
    return Amount(_number(value), False)


@dataclass(frozen=True)
class Limit:
    """The absolute bounds a value must stay within (None: unbounded on that side)."""

    low: float | None = None
    high: float | None = None

    def as_dict(self) -> dict[str, float]:
        """`{"max": high, "min": low}` with only the bounds there are."""
        found = {"max": self.high, "min": self.low}
        return {k: v for k, v in found.items() if v is not None}


@dataclass(frozen=True)
class Threshold:
    """A probe's thresholds, parsed once; `written` keeps them as the experiment gave them
    (journals and messages show them so)."""

    written: Mapping[str, Any]
    max: float | None = None
    min: float | None = None
    increase: Amount | None = None
    decrease: Amount | None = None

    @classmethod
    def parse(cls, written: Mapping[str, Any], strict: bool = True) -> Threshold:
        """From an experiment's or a journal's mapping. Strict raises ValueError on a bad
        value; lenient (reports of old or hand-edited journals) drops it."""
        parsed: dict[str, Any] = {}
        for key, name, parser in (
            ("max", "max", _number),
            ("min", "min", _number),
            ("max_increase", "increase", parse_amount),
            ("max_decrease", "decrease", parse_amount),
        ):
            if key not in written:
                continue
            try:
                parsed[name] = parser(written[key])
            except ValueError:
                if strict:
                    raise
        return cls(dict(written), **parsed)

    @property
    def relative(self) -> bool:
        """Whether judging needs a baseline."""
        return self.increase is not None or self.decrease is not None

    def limit(self, baseline: float | None) -> Limit:
        """The tightest absolute bounds; the relative ones only when there is a baseline."""
        high, low = self.max, self.min
        if baseline is not None and self.increase is not None:
            step = baseline + self.increase.of(baseline)
            high = step if high is None else min(high, step)
        if baseline is not None and self.decrease is not None:
            step = baseline - self.decrease.of(baseline)
            low = step if low is None else max(low, step)
        return Limit(low, high)

    def breached(self, value: float, baseline: float | None) -> str:
        """Which threshold `value` breaks, as text; empty when it holds."""
        w = self.written
        if self.max is not None and value > self.max:
            return f"above max {w['max']}"
        if self.min is not None and value < self.min:
            return f"below min {w['min']}"
        if baseline is None:
            return ""
        if self.increase is not None and value > baseline + self.increase.of(baseline):
            return f"increase over baseline {baseline:g} beyond {w['max_increase']}"
        if self.decrease is not None and value < baseline - self.decrease.of(baseline):
            return f"decrease from baseline {baseline:g} beyond {w['max_decrease']}"
        return ""


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)
