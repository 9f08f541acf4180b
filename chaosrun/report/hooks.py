"""What a run does for reports as it goes: notify at start and abort, and at the end
write report.html and junit.xml beside the journal and notify again.

The engine calls three methods (`start`, `abort`, `finish`). Everything here reads the
journal FILE, which the engine writes with secrets already redacted, never the
engine's in-memory data. Start and abort are delivered in background threads so a
slow or dead webhook never delays injecting or rolling back; `finish` waits for them
(bounded by the timeout) so receivers get start, abort and end in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from chaosrun.base.errors import ChaosrunError
from chaosrun.report.journal import load_journal
from chaosrun.report.notify import DEFAULT_TIMEOUT_S, Delivery, Target, notify, urls_from_env
from chaosrun.report.writer import write_run_reports


class Webhook(Protocol):
    url: str
    events: tuple[str, ...]
    format: str
    routing_key: str | None


def targets_for(event: str, webhooks: Iterable[Webhook], env_urls: Iterable[str]) -> list[Target]:
    """Configured webhooks that subscribe to the event (in their format), then
    $CHAOSRUN_WEBHOOKS (all events, generic JSON); each URL once."""
    targets = [Target(w.url, w.format, w.routing_key) for w in webhooks if event in w.events]
    targets += [Target(u) for u in env_urls]
    unique: dict[str, Target] = {}
    for target in targets:
        unique.setdefault(target.url, target)
    return list(unique.values())


class RunHooks:
    """Notifications and default reports of one run; never raises into the engine."""

    def __init__(
        self,
        journal_path: Path,
        webhooks: Iterable[Webhook] = (),
        say: Callable[[str], Any] = print,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.journal_path = journal_path
        self.webhooks = list(webhooks)
        self.env_urls = urls_from_env()
        self.say = say
        self.timeout = timeout
        self.pending: list[threading.Thread] = []
        self.deliveries: list[tuple[str, Delivery]] = []

    def start(self) -> None:
        self._send_in_background("start")

    def abort(self) -> None:
        self._send_in_background("abort")

    def finish(self) -> list[Path]:
        """Wait for earlier notifications, write the default reports, send end (and refused)."""
        deadline = time.monotonic() + self.timeout + 0.5
        for thread in self.pending:
            thread.join(max(deadline - time.monotonic(), 0.0))
        journal = self._journal()
        written: list[Path] = []
        if journal is not None:
            try:
                written = write_run_reports(self.journal_path.parent, journal)
                self.say("reports: " + ", ".join(str(p) for p in written))
            except (OSError, ChaosrunError) as exc:
                self.say(f"reports not written: {exc}")
            events = ["end"] + (["refused"] if journal.get("status") == "refused" else [])
            for event in events:
                self._send(event, journal)
        return written

    def _journal(self) -> dict[str, Any] | None:
        try:
            return load_journal(self.journal_path)
        except ChaosrunError as exc:
            self.say(f"no notification or report: {exc}")
            return None

    def _send_in_background(self, event: str) -> None:
        journal = self._journal()  # a snapshot now, so the message says what was true now
        if journal is None:
            return
        # Each delivery waits for the one before it, so receivers see start before abort.
        before = self.pending[-1] if self.pending else None
        thread = threading.Thread(
            target=self._send_after,
            args=(before, event, journal),
            daemon=True,
            name=f"chaosrun-{event}",
        )
        thread.start()
        self.pending.append(thread)

    def _send_after(
        self, before: threading.Thread | None, event: str, journal: dict[str, Any]
    ) -> None:
        if before is not None:
            before.join(self.timeout + 0.5)
        self._send(event, journal)

    def _send(self, event: str, journal: dict[str, Any]) -> None:
        urls = targets_for(event, self.webhooks, self.env_urls)
        if not urls:
            return
        for delivery in notify(event, journal, urls, self.timeout):
            self.deliveries.append((event, delivery))
            if not delivery.ok:
                self.say(f"webhook {delivery.target} ({event}): {delivery.detail}")
