"""The audit log: one JSON line per action, appended, never rewritten.

Who (user, host), when, what (run, refused, abort, freeze, unfreeze, recover), which
experiment and targets, and the outcome. Lines are written with O_APPEND in one
write() under an exclusive lock, so concurrent controllers never interleave them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chaosrun.base import filemodes
from chaosrun.report.notify import Target, deliver

# `slot`: how a scheduled slot ended (chaosrun.modes.slots).
ACTIONS = ("run", "refused", "abort", "freeze", "unfreeze", "recover", "slot")


def who() -> dict[str, str]:
    """The person behind the action: the sudo caller when there is one, and this host."""
    user = os.environ.get("SUDO_USER") or _login()
    return {"user": user, "host": socket.gethostname()}


def controller_id(pid: int | None = None) -> str:
    """How a run names its controller on the host: user@host:pid."""
    me = who()
    return f"{me['user']}@{me['host']}:{pid or os.getpid()}"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(
    path: Path,
    action: str,
    outcome: str,
    *,
    experiment: str | None = None,
    run_id: str | None = None,
    targets: Sequence[str] | None = None,
    reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Append one line and return it. `action` is one of ACTIONS."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry: dict[str, Any] = {
        "at": now_iso(),
        **who(),
        "pid": os.getpid(),
        "action": action,
        "outcome": outcome,
        "experiment": experiment,
        "run_id": run_id,
        "targets": list(targets) if targets is not None else None,
        "reason": reason,
    }
    entry.update(extra)
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    filemodes.group_dirs(path.parent)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, filemodes.GROUP_FILE)
    try:
        if new:
            filemodes.group_file(fd)  # past the umask; an existing log keeps its mode
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)
    return entry


def read(path: Path) -> Iterator[dict[str, Any]]:
    """Every entry, oldest first (a torn last line from a crash is skipped)."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def announce(
    webhooks: Sequence[Any],
    event: str,
    entry: dict[str, Any],
    timeout: float = 3.0,
    text: str | None = None,
):
    """POST a fleet action (freeze, unfreeze, recover, a failed slot) to the webhooks that
    subscribe to it, each in its format. Best effort, bounded by `timeout` in all: the kill
    switch never waits for a chat server. Returns {webhook name: "ok" | problem}."""
    hooks = [w for w in webhooks if event in w.events]
    if text is None:
        text = f"chaosrun {event} by {entry.get('user')}@{entry.get('host')}"
        if entry.get("reason"):
            text += f": {entry['reason']}"
    facts = {"source": "chaosrun", "event": event, "text": text, **entry}
    targets = [Target(h.url, h.format, h.routing_key) for h in hooks]
    results = deliver(targets, facts, timeout)
    return {h.name: "ok" if r.ok else r.detail for h, r in zip(hooks, results, strict=True)}
