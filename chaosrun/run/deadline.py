"""The inject deadline: inject and verify(active) end within it, or the run cancels them.

A hung apply (a script that blocks, an ssh that stalls) would otherwise keep the other
hosts' faults renewed until a guardrail, a freeze or a signal ended the run. Past the
deadline the run's stop flag is set, as an abort or a signal sets it: the play is
canceled, every host rolled back (the revert ends the run's steps still running on the
hosts, chaosrun.hosts.hostshell.stop_steps_script) and the run ends aborted (exit 3),
naming the hosts that had not finished. The budget is `deadlines.inject` for each batch
of hosts Ansible runs a task on at once (its forks): a play's tasks take that many turns.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable

from chaosrun.hosts.runner import PlayResult


def budget(per_batch: float, hosts: int, forks: int) -> float:
    """The deadline of a play on `hosts` run `forks` at a time."""
    return per_batch * math.ceil(max(1, hosts) / max(1, forks))


class Deadline:
    """Sets `stop` once `seconds` passed since start(), unless canceled or already set."""

    def __init__(self, seconds: float, stop: threading.Event) -> None:
        self.seconds = seconds
        self.stop = stop
        self.passed = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.name = "inject-deadline"

    def start(self) -> Deadline:
        self._timer.start()
        return self

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        if not self.stop.is_set():  # a guardrail or a signal that came first keeps its reason
            self.passed = True
            self.stop.set()


def unfinished(stages: Iterable[PlayResult | None]) -> dict[str, str]:
    """Host -> the task it was still in when its play was canceled (the last stage wins)."""
    found: dict[str, str] = {}
    for stage in stages:
        if stage is not None:
            found.update(stage.busy)
    return found


def reason(seconds: float, phase: str, late: dict[str, str], hosts: list[str]) -> str:
    """Why the run aborted: the deadline, and the hosts that had not finished (with the task
    each was in), or every host when none had started a task (the play itself hung)."""
    where = (
        ", ".join(f"{h} (task {t!r})" for h, t in sorted(late.items()))
        if late
        else f"{', '.join(hosts)} (no task under way: the play had not reached them)"
    )
    return f"inject deadline of {seconds:g}s passed during {phase}; not finished on {where}"
