"""The three-valued outcome every probe returns."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Verdict(enum.StrEnum):
    PASS = "PASS"
    BREACH = "BREACH"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class ProbeResult:
    """One sample: the verdict, the measured value (if any) and the raw evidence."""

    verdict: Verdict
    value: float | None
    evidence: str

    @classmethod
    def unknown(cls, evidence: str) -> ProbeResult:
        return cls(Verdict.UNKNOWN, None, evidence)


def finite(value: float | None) -> bool:
    return value is not None and not math.isnan(value) and not math.isinf(value)
