"""What a run shows while it runs: a rich live view on a terminal, plain lines elsewhere.

Ansible-runner events (host done/failed) and probe samples feed it; every text passes
through the run's Redactor first. With --json the view goes to stderr as plain lines and
stdout carries only the final JSON document.
"""

from __future__ import annotations

import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from chaosrun.base.secrets import Redactor
from chaosrun.base.verdict import ProbeResult

_STYLE = {"PASS": "green", "BREACH": "bold red", "UNKNOWN": "yellow"}
_HOST_STYLE = {"ok": "green", "failed": "bold red", "unreachable": "bold red", "running": "cyan"}


class Progress:
    """Plain progress lines (non-terminal, --json, CI logs)."""

    def __init__(self, console: Console, redactor: Redactor) -> None:
        self.console = console
        self.redactor = redactor
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def _line(self, text: str, style: str = "") -> None:
        with self._lock:
            stamp = f"[{time.monotonic() - self.started:6.1f}s]"
            self._print(Text(f"{stamp} {self.redactor.text(text)}", style=style))

    def _print(self, text: Text) -> None:
        """Print, or drop the line when nobody reads any more: a closed pipe or a hung up
        terminal must never stop the thread that printed (the guardrail monitor, the
        rollback). Rich turns a broken pipe into SystemExit, then stays quiet."""
        try:
            self.console.print(text, soft_wrap=True)
        except (OSError, SystemExit):
            self.console.quiet = True

    def phase(self, name: str, detail: str = "") -> None:
        self._line(f"== {name}" + (f": {detail}" if detail else ""), "bold")

    def host(self, phase: str, host: str, status: str, task: str) -> None:
        if status in ("failed", "unreachable"):
            self._line(f"   {phase} {host}: {status} ({task})", "red")

    def hosts_done(self, phase: str, hosts: dict[str, str]) -> None:
        summary = ", ".join(f"{h} {s}" for h, s in hosts.items())
        self._line(f"   {phase}: {summary}")

    def probe(self, role: str, name: str, result: ProbeResult) -> None:
        value = "-" if result.value is None else f"{result.value:.4g}"
        self._line(
            f"   {role} {name!r}: {result.verdict} {value}  {result.evidence}",
            _STYLE.get(result.verdict, ""),
        )

    def message(self, text: str, style: str = "") -> None:
        self._line(text, style)

    def close(self) -> None:
        pass


class LiveProgress(Progress):
    """A live table on a terminal: phase, hosts done/failed, latest probe values."""

    def __init__(self, console: Console, redactor: Redactor) -> None:
        super().__init__(console, redactor)
        self.current = "starting"
        self.hosts: dict[str, tuple[str, str]] = {}
        self.probes: dict[tuple[str, str], ProbeResult] = {}
        self.live = Live(self._render(), console=console, refresh_per_second=8, transient=False)
        self.live.start()

    def _render(self) -> Group:
        elapsed = time.monotonic() - self.started
        head = Text(f"phase: {self.current}   {elapsed:5.1f}s", style="bold")
        hosts = Table(title=None, box=None, show_header=True, pad_edge=False)
        hosts.add_column("host")
        hosts.add_column("status")
        hosts.add_column("task", overflow="ellipsis", no_wrap=True, max_width=60)
        for name, (status, task) in self.hosts.items():
            hosts.add_row(name, Text(status, _HOST_STYLE.get(status, "")), self.redactor.text(task))
        probes = Table(box=None, show_header=True, pad_edge=False)
        for col in ("probe", "verdict", "value", "evidence"):
            probes.add_column(col, overflow="ellipsis", no_wrap=True, max_width=70)
        for (role, name), r in self.probes.items():
            value = "-" if r.value is None else f"{r.value:.4g}"
            probes.add_row(
                f"{role}: {name}",
                Text(r.verdict, _STYLE.get(r.verdict, "")),
                value,
                self.redactor.text(r.evidence),
            )
        return Group(head, hosts, probes)

    def _refresh(self) -> None:
        try:
            self.live.update(self._render())
        except (OSError, SystemExit):  # as in _print: the view is not worth the run
            self.console.quiet = True

    def phase(self, name: str, detail: str = "") -> None:
        self.current = name + (f" ({detail})" if detail else "")
        for host, (_, task) in list(self.hosts.items()):
            self.hosts[host] = ("waiting", task)
        super().phase(name, detail)
        self._refresh()

    def host(self, phase: str, host: str, status: str, task: str) -> None:
        self.hosts[host] = (status, task)
        self._refresh()

    def hosts_done(self, phase: str, hosts: dict[str, str]) -> None:
        for host, status in hosts.items():
            self.hosts[host] = (status, phase)
        self._refresh()

    def probe(self, role: str, name: str, result: ProbeResult) -> None:
        self.probes[(role, name)] = result
        self._refresh()

    def message(self, text: str, style: str = "") -> None:
        self._print(Text(self.redactor.text(text), style=style))

    def close(self) -> None:
        try:
            self.live.stop()
        except (OSError, SystemExit):  # as in _print: the view is not worth the run
            self.console.quiet = True


def make_progress(console: Console, redactor: Redactor, live: bool) -> Progress:
    if live and console.is_terminal:
        return LiveProgress(console, redactor)
    return Progress(console, redactor)
