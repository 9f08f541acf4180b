"""How long an experiment keeps its fault on, against the project's ceiling `max_duration`.

One run holds the fault for its `duration` (the observe phase); a ramp is one run per step,
so it holds the fault once per step: its steps as written count (the inventory may merge
some, never add one). Nothing else an experiment says keeps the fault on: observe-only
probes sample while it is on, the baseline and the recovery wait run with it off. Inject,
verify and rollback are bounded by `deadlines.inject` and the revert's own limits, a dead
controller by the lease. What the files or `--set` ask above chaosrun.yml's `max_duration`
is refused (exit 2) while the experiment is read, before anything is touched; an
override's is a loosening (`Loosened`), which the audit log records as the others.

A drill holds its fault for no set duration: while people work through the runbook. Its
`Limit` is the runbook's own `duration` when the front matter gives one (already held to
the ceiling), else `max_duration`; the engine rolls the fault back when it has been on that
long, and no renewal of the on-host lease reaches past it (`lease_seconds`), so the host's
dead-man does not outlive it either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from chaosrun.base.durations import say_duration
from chaosrun.model.schema import Checker, override_of

DEFAULT_S = 3600.0  # every shipped experiment and ramp fits in an hour, many times over
DEFAULT_SOURCE = "the built-in default"


@dataclass(frozen=True)
class FaultTime:
    duration: float  # seconds one run holds the fault
    steps: int = 1  # runs that each hold it: a ramp's steps as written, else one

    @property
    def seconds(self) -> float:
        return self.duration * self.steps

    def text(self) -> str:
        """`20s`, or `20s x 3 ramp steps = 1m` for a ramp."""
        if self.steps == 1:
            return say_duration(self.duration)
        total = say_duration(self.seconds)
        return f"{say_duration(self.duration)} x {self.steps} ramp steps = {total}"


def of(duration: float, ramp: Sequence[object] = ()) -> FaultTime:
    """The fault time of an experiment's `duration` and `targets.ramp` steps."""
    return FaultTime(duration, max(1, len(ramp)))


def ceiling_text(seconds: float, source: str) -> str:
    """`max_duration 1h from chaosrun.yml:31`: the ceiling and where it came from."""
    return f"max_duration {say_duration(seconds)} from {source}"


def check(c: Checker, fault: FaultTime, ceiling: float, source: str) -> None:
    """Report to `c` a fault time over the ceiling, naming the file's line or the `--set`
    keys that asked for it (duration, and the ramp when the run has steps)."""
    if fault.seconds <= ceiling:
        return
    paths = [("duration",), ("targets", "ramp")] if fault.steps > 1 else [("duration",)]
    keys = [key for key in (override_of(c.overridden, p) for p in paths) if key]
    where = f"{c.file} (--set {', '.join(keys)})" if keys else c.where(("duration",))
    asked = f"duration: {say_duration(fault.duration)}"
    if fault.steps > 1:
        asked += (
            f" for each of {fault.steps} ramp steps (targets.ramp) keeps the fault on "
            f"{say_duration(fault.seconds)}, which"
        )
    line = (
        f"{where}: {asked} is longer than the ceiling {ceiling_text(ceiling, source)} "
        "(the longest a fault may stay on in one run; a longer one needs max_duration "
        "raised in chaosrun.yml)"
    )
    c.errors.append(line)
    if keys:  # an override asked to keep the fault on longer: a loosening, audited
        c.loosened.append(line)


@dataclass(frozen=True)
class Limit:
    """The longest a run that holds its fault for no set duration (a drill) keeps it on."""

    seconds: float
    key: str  # what set it: `duration` (the runbook's own) or `max_duration`
    source: str  # where: `runbooks/x.md:4`, `chaosrun.yml:31` or the built-in default

    def text(self) -> str:
        """`max_duration 1h from chaosrun.yml:31`, `duration 15m from runbooks/x.md:4`."""
        return f"{self.key} {say_duration(self.seconds)} from {self.source}"

    def as_dict(self) -> dict[str, object]:
        return {"s": self.seconds, "key": self.key, "source": self.source}


def drill_limit(own: float | None, own_source: str, ceiling: float, source: str) -> Limit:
    """A drill's limit: its own `duration` (at `own_source`) when it has one within the
    ceiling, else the ceiling `max_duration` from `source`."""
    if own is not None and own <= ceiling:
        return Limit(own, "duration", own_source)
    return Limit(ceiling, "max_duration", source)


def arm_ttl(ttl: int, limit: Limit | None) -> int:
    """The lease a fault is armed with: the run's `ttl`, never longer than its limit (the
    dead-man's timer first fires after it, whatever a renewal writes later)."""
    if limit is None:
        return ttl
    return max(1, min(ttl, math.floor(limit.seconds)))


def lease_seconds(ttl: float, left: float | None) -> int:
    """What a lease renewal writes: `ttl` from now, never past the limit `left` seconds
    away (None: no limit); 0 once it passed, so the host's dead-man reverts at once."""
    if left is None:
        return int(ttl)
    return max(0, min(int(ttl), math.floor(left)))
