"""Observe-only probes: the signals an experiment wants to watch without judging them.

An experiment's `observe.probes` (any probe kind) are sampled from the start of inject
to the end of the run, each on its own thread every `observe.interval`, so a slow probe
(a TCP handshake through an injected delay) neither delays the others nor the
guardrails. Every sample is stamped with the moment it was taken, not when it returned,
so the journal orders causes and effects by when they happened. A BREACH here means
"the signal crossed its threshold"; it never aborts the run. When the run ends the
journal gets its `cascade` (chaosrun.report.cascade): the order in which signals showed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from chaosrun.base.phases import Phase
from chaosrun.model.experiment import ProbeSpec
from chaosrun.probes import Prober
from chaosrun.report import cascade
from chaosrun.run.journal import Journal, now_iso

ROLE = "observe"


class Observer:
    """One sampling thread per observe-only probe."""

    def __init__(
        self,
        probes: Sequence[ProbeSpec],
        prober: Prober,
        journal: Journal,
        interval: float,
        phase: Callable[[], Phase],
    ) -> None:
        self.probes = list(probes)
        self.prober = prober
        self.journal = journal
        self.interval = interval
        self.phase = phase
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Observer:
        for probe in self.probes:
            thread = threading.Thread(
                target=self._loop, args=(probe,), name=f"observe-{probe.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _loop(self, probe: ProbeSpec) -> None:
        next_start = time.monotonic()
        while not self._stop.is_set():
            at, phase = now_iso(), self.phase()
            result = self.prober.evaluate(probe)
            if self._stop.is_set():
                return  # the journal may already be final
            # Saved with the journal's next write (phase ends, the guardrails' abort).
            self.journal.sample(
                ROLE, probe.name, phase, result.verdict, result.value, result.evidence, at=at
            )
            next_start = max(next_start + self.interval, time.monotonic())
            self._stop.wait(next_start - time.monotonic())

    def finish(self) -> None:
        """Stop sampling (a probe in flight is dropped) and record the cascade."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=0.1)
        journal = self.journal.snapshot()
        if self.probes or journal.get("probes"):
            self.journal.set(cascade=cascade.first_signals(journal))
