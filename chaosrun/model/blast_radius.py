"""Blast radius: how many hosts one run may touch.

Three caps, the smallest wins: `max_hosts` per run, `max_percent` of the hosts the
pattern matched, and, unless `allow_whole_group` is set, never every host the pattern
matched. The project config sets them; an experiment may set its own (the decision
says where each cap came from, so `plan` can show why).

When an experiment takes whole zones (`targets.zones`), two more caps count zones:
`max_zones` per run and, unless `allow_all_zones` is set, never every zone the matched
hosts span. Zones are never trimmed to fit: a zone over a host cap is refused whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chaosrun.base.errors import Refused
from chaosrun.base.percent import hosts_for_percent
from chaosrun.model.schema import Checker, LocateChecker

Locate = Callable[[tuple[Any, ...]], str]
Source = str | Callable[[str], str]
KEYS = ("max_hosts", "max_percent", "allow_whole_group", "max_zones", "allow_all_zones")
FLAGS = ("allow_whole_group", "allow_all_zones")


@dataclass(frozen=True)
class Caps:
    """Blast-radius caps; None means "no cap of this kind"."""

    max_hosts: int | None = 5
    max_percent: float | None = 50.0
    allow_whole_group: bool = False
    max_zones: int | None = 1
    allow_all_zones: bool = False
    sources: tuple[tuple[str, str], ...] = ()  # (key, where it was set)

    @classmethod
    def parse(cls, raw: Any, locate: Locate, at: tuple[Any, ...], source: Source) -> Caps:
        """Caps from a mapping; keys not given keep the defaults."""
        return cls().override(raw, locate, at, source)

    def override(self, raw: Any, locate: Locate, at: tuple[Any, ...], source: Source) -> Caps:
        """These caps with the keys of `raw` (an experiment's `blast_radius`) replaced;
        every problem in one InvalidInput, each named by `locate`."""
        c = LocateChecker(locate)
        return c.collect(lambda: self.checked(c, raw, at, source))

    def checked(self, c: Checker, raw: Any, at: tuple[Any, ...], source: Source) -> Caps:
        """These caps with the valid keys of `raw` replaced; problems go to `c`. `source`
        says where they were set: one text, or one per key."""
        if raw is None:
            return self
        if not isinstance(raw, dict):
            c.err(at, "blast_radius must be a mapping")
            return self
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in KEYS:
                c.err((*at, key), f"unknown key (known: {', '.join(KEYS)})")
                continue
            checked = _cap(c, key, value, (*at, key))
            if checked is not _BAD:
                changes[key] = checked
        sources = {k: v for k, v in self.sources if k not in changes}
        sources.update({k: source(k) if callable(source) else source for k in changes})
        return replace(self, **changes, sources=tuple(sorted(sources.items())))

    def source_of(self, key: str) -> str:
        return dict(self.sources).get(key, "default")


_BAD = object()


def _cap(c: Checker, key: str, value: Any, at: tuple[Any, ...]) -> Any:
    """One cap's value (None: no cap of this kind), or _BAD after telling `c` why."""
    if key in FLAGS:
        if not isinstance(value, bool):
            c.err(at, "must be true or false")
            return _BAD
        return value
    if value is None:
        return None
    bad = isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    if key in ("max_hosts", "max_zones"):
        if bad or value != int(value) or value < 1:
            c.err(at, "must be a whole number >= 1 (or null)")
            return _BAD
        return int(value)
    if bad or not 0 < value <= 100:
        c.err(at, "must be a percentage in (0, 100] (or null)")
        return _BAD
    return float(value)


@dataclass(frozen=True)
class Decision:
    """Whether a selection fits the caps, with the reasoning."""

    pattern: str
    matched: int
    selected: int
    limit: int
    reasons: tuple[str, ...]  # one line per cap, e.g. "max_percent 50% of 3 -> 1 (default)"
    zones: tuple[int, int] | None = None  # zone mode: (zones selected, zones spanned)
    zone_limit: int | None = None

    @property
    def allowed(self) -> bool:
        zones_ok = self.zones is None or 0 < self.zones[0] <= (self.zone_limit or 0)
        return 0 < self.selected <= self.limit and zones_ok

    @property
    def percent(self) -> float:
        return 100.0 * self.selected / self.matched if self.matched else 0.0

    def summary(self) -> str:
        verdict = "within" if self.allowed else "OVER"
        zones = ""
        if self.zones is not None:
            zones = f" in {self.zones[0]} of {self.zones[1]} zones (cap {self.zone_limit} zone(s))"
        return (
            f"{self.selected} of {self.matched} hosts matched by '{self.pattern}' "
            f"({self.percent:.0f}%){zones}, {verdict} the blast-radius cap of {self.limit}"
        )

    def message(self) -> str:
        """The refusal text, with the numbers and the binding caps."""
        return f"blast radius: {self.summary()}: " + "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        result = {
            "pattern": self.pattern,
            "matched": self.matched,
            "selected": self.selected,
            "percent": round(self.percent, 1),
            "limit": self.limit,
            "allowed": self.allowed,
            "reasons": list(self.reasons),
        }
        if self.zones is not None:
            result.update(
                zones_selected=self.zones[0], zones_total=self.zones[1], zone_limit=self.zone_limit
            )
        return result


def limit_for(matched: int, caps: Caps) -> tuple[int, tuple[str, ...]]:
    """The most hosts a run may touch out of `matched`, and why."""
    limit = matched
    reasons = []
    if caps.max_hosts is not None:
        limit = min(limit, caps.max_hosts)
        reasons.append(
            f"max_hosts {caps.max_hosts} -> {caps.max_hosts} ({caps.source_of('max_hosts')})"
        )
    if caps.max_percent is not None:
        by_percent = hosts_for_percent(matched, caps.max_percent, at_least=0)
        limit = min(limit, by_percent)
        reasons.append(
            f"max_percent {caps.max_percent:g}% of {matched} -> {by_percent} "
            f"({caps.source_of('max_percent')})"
        )
    if not caps.allow_whole_group:
        limit = min(limit, matched - 1)
        reasons.append(
            f"never all {matched} hosts of the group -> {matched - 1} "
            f"(allow_whole_group false, {caps.source_of('allow_whole_group')})"
        )
    return max(limit, 0), tuple(reasons)


def zone_limit_for(total: int, caps: Caps) -> tuple[int, tuple[str, ...]]:
    """The most zones a run may take down out of the `total` the hosts span, and why."""
    limit, reasons = total, []
    if caps.max_zones is not None:
        limit = min(limit, caps.max_zones)
        reasons.append(f"max_zones {caps.max_zones} ({caps.source_of('max_zones')})")
    if not caps.allow_all_zones:
        limit = min(limit, total - 1)
        reasons.append(
            f"never all {total} zones -> {total - 1} "
            f"(allow_all_zones false, {caps.source_of('allow_all_zones')})"
        )
    return max(limit, 0), tuple(reasons)


def decide(
    pattern: str, matched: int, selected: int, caps: Caps, zones: tuple[int, int] | None = None
) -> Decision:
    """The cap decision for selecting `selected` of `matched` hosts (and, in zone mode,
    `zones` = (zones selected, zones the matched hosts span))."""
    limit, reasons = limit_for(matched, caps)
    if zones is None:
        return Decision(pattern, matched, selected, limit, reasons)
    zone_limit, zone_reasons = zone_limit_for(zones[1], caps)
    return Decision(pattern, matched, selected, limit, reasons + zone_reasons, zones, zone_limit)


def check(
    pattern: str, matched: int, selected: int, caps: Caps, zones: tuple[int, int] | None = None
) -> Decision:
    """The decision, or Refused (exit 4) with the numbers when the selection is over."""
    decision = decide(pattern, matched, selected, caps, zones)
    if selected == 0:
        raise Refused(f"blast radius: no host selected from '{pattern}' ({matched} matched)")
    if not decision.allowed:
        raise Refused(decision.message())
    return decision
