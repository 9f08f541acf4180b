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

RENEWED = "renewed"  # the host holds the fault and took the new expiry
GONE = "gone"  # the host holds no fault of the run (not yet injected, or reverted)
FAILED = "failed"  # no answer: the host may or may not have taken it
# The host holds the run's fault but its dead-man is no longer armed (a reboot removed
# the timer): nothing would revert it, so the run has lost control of it.
DISARMED = "disarmed"
# The host carries the freeze marker of `chaosrun freeze -i`: the freeze reverted (or is
# reverting) every fault there, and the run must abort; the answer's note says who froze it.
FROZEN = "frozen"

# renew() -> {host: answer or (answer, note)}; True and False mean RENEWED and FAILED.
Renew = Callable[[], Mapping[str, str | bool | tuple[str, str]]]


def _answer(value: str | bool | tuple[str, str]) -> tuple[str, str]:
    if isinstance(value, tuple):
        return value
    if value is True:
        return RENEWED, ""
    return (FAILED if value is False else str(value)), ""


@dataclass
class LeaseRenewer:
    """Calls `renew` every `every` seconds in a daemon thread until stopped.

    What the hosts answer is the truth: RENEWED proves the fault was still there, GONE
    after that proves it was reverted, so a renewal slower than the lease is judged by the
    next answer, never by the clock. Time decides only for hosts that stopped answering: a
    lease a host took runs at least `ttl` from when its renewal was SENT (the host computes
    the expiry when it runs the command), and a renewal in flight may yet get through."""

    renew: Renew
    ttl: float
    every: float
    clock: Callable[[], float] = time.monotonic
    last_ok: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    # The hosts known to hold the fault, and since when (a renewal's send time, or `hold`):
    # only a renewal sent after that can say the fault is gone.
    held_since: dict[str, float] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    disarmed: set[str] = field(default_factory=set)
    frozen: dict[str, str] = field(default_factory=dict)  # host -> the freeze's own line
    in_flight_since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
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
        sent = self.clock()
        with self._lock:
            self.in_flight_since = sent
        try:
            answers = {h: _answer(a) for h, a in self.renew().items()}
        except Exception:  # a renewer crash must not kill the run; the hosts are safe anyway
            answers = dict.fromkeys(self.last_ok, (FAILED, ""))
        with self._lock:
            self.in_flight_since = None
            for host, (answer, note) in answers.items():
                if answer == FAILED:
                    self.failures[host] = self.failures.get(host, 0) + 1
                    continue
                self.failures[host] = 0
                self.last_ok[host] = max(sent, self.last_ok.get(host, sent))
                if answer == RENEWED:
                    self.held_since.setdefault(host, sent)
                elif answer == FROZEN:
                    self.frozen[host] = note
                elif answer == DISARMED:  # held, but not as the run armed it
                    self.disarmed.add(host)
                    self.gone.add(host)
                elif host in self.held_since and sent >= self.held_since[host]:
                    self.gone.add(host)  # held before, gone now: its dead-man reverted it

    def hold(self, hosts: list[str]) -> None:
        """The run's inject returned on `hosts`: they hold the fault from now on, whether
        or not a renewal has seen it yet. Without this, a host whose fault went (a reboot,
        its boot guard) before the first renewal after inject would only ever answer
        "gone", as if never injected, and the run would not notice."""
        now = self.clock()
        with self._lock:
            for host in hosts:
                self.held_since.setdefault(host, now)

    def disarmed_hosts(self) -> list[str]:
        """Hosts that hold the run's fault with its dead-man no longer armed."""
        with self._lock:
            return sorted(self.disarmed)

    def frozen_hosts(self) -> dict[str, str]:
        """Hosts that answered with the freeze marker, and the freeze's line from each."""
        with self._lock:
            return dict(sorted(self.frozen.items()))

    def lapsed(self) -> list[str]:
        """Hosts that lost the fault: the run's state is gone from them after they held it
        (or stays there with its dead-man disarmed), or they stopped answering and no
        renewal they took was sent within a whole ttl (their dead-man has reverted or is
        reverting the fault). A host that answers is
        judged by its answers, however slow; a renewal in flight may still get through."""
        now = self.clock()
        with self._lock:
            late: set[str] = set()
            if self.in_flight_since is None:
                late = {
                    h
                    for h, at in self.last_ok.items()
                    if self.failures.get(h, 0) and now - at >= self.ttl
                }
            return sorted(late | self.gone)

    def _loop(self) -> None:
        # Renewals start every `every` seconds from the start of the previous one, not from
        # its end: one held up by a host that is rebooting (its connection dying under it)
        # delays the next by no more than its own overrun, so a host that comes back is
        # asked again within one interval.
        started = time.monotonic()
        while not self._stop.wait(max(0.0, started + self.every - time.monotonic())):
            started = time.monotonic()
            self.renew_now()
