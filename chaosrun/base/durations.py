"""Durations as people write them in experiments: `500ms`, `15s`, `2m`, `1h30m`, or seconds."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> float:
    """Seconds as a float; raises ValueError with a readable message."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 30s, 2m or 500ms, got a boolean")
    if isinstance(value, int | float):
        if value != value or value < 0 or value == float("inf"):
            raise ValueError(f"expected a non-negative duration, got {value}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like 30s, 2m or 500ms, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise ValueError("expected a duration like 30s, 2m or 500ms, got an empty string")
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"expected a duration like 30s, 2m or 500ms, got {value!r}")
    return total


def format_duration(seconds: float) -> str:
    """A short human form: 0.25s, 15s, 2m5s."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:g}s" if rest else f"{int(minutes)}m"


def say_duration(seconds: float) -> str:
    """A duration as people write it, largest units first: 45s, 20m, 1h30m, 2d."""
    if seconds < 60:
        return f"{seconds:g}s"
    parts, rest = [], seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    if rest:
        parts.append(f"{rest:g}s")
    return "".join(parts)
