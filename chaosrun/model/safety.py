"""The safety checks the engine calls: before a run starts, and on every guardrail tick.

`preflight()` refuses (exit 4) when chaos is frozen, a blackout window is open, the
selection is over the blast-radius cap, or another live run on this controller holds
one of the selected hosts. `Watch.abort_reason()` is the per-tick check while a fault
is active: the kill switch, a blackout window that opened, an `chaosrun abort` request.
All of it is local and cheap (a few stat() calls); the hosts' own locks are checked by
the roles at inject.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.model import blast_radius, killswitch, windows
from chaosrun.model.blast_radius import Caps, Decision
from chaosrun.model.config import Config

ABORT_FILE = "abort.json"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def preflight(
    config: Config,
    *,
    pattern: str,
    matched: Sequence[str],
    selected: Sequence[str],
    caps: Caps | None = None,
    extra_windows: Sequence[windows.Window] = (),
    run_id: str | None = None,
    now: dt.datetime | None = None,
    zones: tuple[int, int] | None = None,
) -> Decision:
    """Raise Refused naming the reason, or return the blast-radius decision."""
    closed = closed_now(config, extra_windows, now)
    if closed:
        raise Refused(closed)
    decision = blast_radius.check(pattern, len(matched), len(selected), caps or config.caps, zones)
    busy = busy_hosts(config.run_dir, exclude_run=run_id)
    clash = sorted(set(selected) & set(busy))
    if clash:
        owners = sorted({busy[h] for h in clash})
        raise Refused(
            f"host(s) {', '.join(clash)} are held by running experiment "
            f"{', '.join(owners)}; wait for it or run `chaosrun abort {owners[0]}`"
        )
    return decision


def refuses_now(config: Config, own_windows: Any = None, now: dt.datetime | None = None) -> bool:
    """Whether the kill switch, a blackout window of the project or `own_windows` (an
    experiment's `blackout_windows` as read) refuses any run now, or those windows do not
    parse: what needs no inventory of preflight's checks, for a caller deciding whether to
    start work ahead of the plan (whose own checks then say why)."""
    try:
        own = windows.parse_windows(own_windows or [], lambda at: "blackout_windows")
    except InvalidInput:
        return True
    return closed_now(config, own, now) is not None


def closed_now(
    config: Config, extra_windows: Sequence[windows.Window] = (), now: dt.datetime | None = None
) -> str | None:
    """Why no run may start now (the kill switch, an open blackout window), or None."""
    freeze = killswitch.current(config.freeze_file)
    if freeze is not None:
        return freeze.message()
    opened = windows.active([*config.windows, *extra_windows], now or utcnow())
    return opened.message() if opened else None


@dataclass
class Watch:
    """The per-tick safety check of one running experiment."""

    config: Config
    run_id: str
    extra_windows: Sequence[windows.Window] = ()
    _seen: dict[str, Any] = field(default_factory=dict)

    def abort_reason(self, now: dt.datetime | None = None) -> str | None:
        """Why the run must abort now, or None. Cheap enough for every tick."""
        freeze = killswitch.current(self.config.freeze_file)
        if freeze:
            return f"kill switch: {freeze.message()}"
        opened = windows.active([*self.config.windows, *self.extra_windows], now or utcnow())
        if opened:
            return f"blackout window opened: {opened.message()}"
        request = abort_request(self.config.run_dir, self.run_id)
        if request:
            return f"aborted by {request.get('user', '?')}@{request.get('host', '?')}: " + str(
                request.get("reason") or "chaosrun abort"
            )
        return None


def abort_request(run_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The `chaosrun abort` request of a run, if one was made."""
    path = run_dir / run_id / ABORT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"reason": "abort requested (unreadable request file)"}


def running_runs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Runs whose journal says running and whose controller process on this host lives."""
    import socket

    found: dict[str, dict[str, Any]] = {}
    if not run_dir.is_dir():
        return found
    here = socket.gethostname()
    for journal_path in run_dir.glob("*/journal.json"):
        try:
            journal = json.loads(journal_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        controller = journal.get("controller") or {}
        if journal.get("status") != "running" or controller.get("host") != here:
            continue
        if pid_alive(controller.get("pid")):
            found[str(journal.get("run_id") or journal_path.parent.name)] = journal
    return found


def busy_hosts(run_dir: Path, exclude_run: str | None = None) -> dict[str, str]:
    """host -> run id, for hosts selected by live runs of this controller."""
    busy: dict[str, str] = {}
    for run_id, journal in running_runs(run_dir).items():
        if run_id == exclude_run:
            continue
        for host in (journal.get("targets") or {}).get("selected") or []:
            busy[host] = run_id
    return busy


def pid_alive(pid: Any) -> bool:
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not a live controller.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
