"""The lease renewer: keeps a run's on-host dead-man timers from firing while it lives.

Every fault on a host is armed with a short lease (config `lease.ttl`, 30 s by default):
an expiry time in one file the on-host dead-man reads before reverting. While the run's
controller is alive, this thread pushes the expiry forward on every target at once (a
cheap write over an open SSH ControlMaster connection, `renew` below). When the
controller dies, renewals stop and every host reverts by itself within one lease,
however long the experiment was meant to last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# renew() -> {host: True when the host accepted the new expiry}
Renew = Callable[[], Mapping[str, bool]]


@dataclass
class LeaseRenewer:
    """Calls `renew` every `every` seconds in a daemon thread until stopped."""

    renew: Renew
    ttl: float
    every: float
    clock: Callable[[], float] = time.monotonic
    last_ok: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> LeaseRenewer:
        self.renew_now()
        self._thread = threading.Thread(target=self._loop, name="chaosrun-lease", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 30)

    def __enter__(self) -> LeaseRenewer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def renew_now(self) -> None:
        try:
            answers = dict(self.renew())
        except Exception:  # a renewer crash must not kill the run; the hosts are safe anyway
            answers = {}
        now = self.clock()
        for host, ok in answers.items():
            if ok:
                self.last_ok[host] = now
                self.failures[host] = 0
            else:
                self.failures[host] = self.failures.get(host, 0) + 1

    def lapsed(self) -> list[str]:
        """Hosts whose lease may have run out (no renewal for a whole ttl): their dead-man
        has reverted or is reverting the fault, so the experiment lost them."""
        now = self.clock()
        return sorted(h for h, at in self.last_ok.items() if now - at >= self.ttl)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.renew_now()
