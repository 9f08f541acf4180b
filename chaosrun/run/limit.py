"""A fault's limit in a run that holds it for no set duration (a drill's runbook).

From the start of inject the run may keep its fault on for `Limit.seconds` at most: past
it a timer sets the run's stop flag, as a guardrail does, with its own reason (the limit
and the line that set it), and the run rolls back and ends aborted (exit 3). The lease
renewals never reach past it (`lease_seconds`), and the fault is armed with no longer a
lease, so the host's dead-man reverts at the limit too when the controller lives but is
stuck (a renewal thread outlives a hung main thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from chaosrun.base.durations import say_duration
from chaosrun.model import fault_time
from chaosrun.model.fault_time import Limit


class FaultLimit:
    """Calls `expire` once `limit.seconds` passed since start(), unless canceled."""

    def __init__(self, limit: Limit, expire: Callable[[], None]) -> None:
        self.limit = limit
        self.ends: float | None = None
        self._timer = threading.Timer(limit.seconds, expire)
        self._timer.daemon = True
        self._timer.name = "fault-limit"

    def start(self) -> FaultLimit:
        self.ends = time.monotonic() + self.limit.seconds
        self._timer.start()
        return self

    def cancel(self) -> None:
        self._timer.cancel()

    def lease_seconds(self, ttl: float) -> int:
        """The lease a renewal sent now may write: `ttl`, never past the limit."""
        left = None if self.ends is None else self.ends - time.monotonic()
        return fault_time.lease_seconds(ttl, left)

    def reason(self, doing: str = "") -> str:
        """Why the run stopped: the limit, the line that set it, what the run was doing."""
        limit = self.limit
        where = f", {doing}" if doing else ""
        return (
            f"timed out: the fault was on for {say_duration(limit.seconds)}, "
            f"its limit ({limit.text()}){where}"
        )
