"""Whether a run's controller still lives, from what its journal recorded at the start.

A journal names its controller by host, pid, the pid's start time (clock ticks since
boot, so a reused pid is not mistaken for it) and the machine's boot id (so a pid after
a reboot is not either). A journal still `running` whose controller on this machine is
gone is shown as `crashed`: the run never finished, its faults were left to the hosts'
dead-man leases.
"""

from __future__ import annotations

import os
import socket
from typing import Any

CRASHED = "crashed"


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, parent pid, ...; the
    start time in ticks since boot is [19]), or None when there is no such live process
    (a zombie has exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if len(fields) <= 19 or fields[0] == "Z":
        return None
    return fields


def process_start(pid: int) -> str | None:
    """The process's start time in ticks since boot, or None when there is no such live
    process (a zombie has exited)."""
    fields = stat(pid)
    return fields[19] if fields else None


def identity() -> dict[str, Any]:
    """What a journal records about the controller at the start of a run."""
    pid = os.getpid()
    return {"pid": pid, "pid_started": process_start(pid), "boot_id": boot_id()}


def gone(controller: dict[str, Any]) -> str | None:
    """Why the controller of a journal is known to be dead, or None (alive, or on another
    machine, or too little recorded to tell)."""
    if controller.get("host") != socket.gethostname():
        return None
    try:
        pid = int(controller.get("pid"))
    except (TypeError, ValueError):
        return None
    recorded_boot = controller.get("boot_id")
    if recorded_boot and boot_id() and recorded_boot != boot_id():
        return f"the controller's machine rebooted since (pid {pid})"
    started = process_start(pid)
    if started is None:
        return f"controller pid {pid} is no longer alive"
    if controller.get("pid_started") and started != controller["pid_started"]:
        return f"controller pid {pid} is no longer alive (the pid is now another process)"
    return None


def classify(journal: dict[str, Any]) -> dict[str, Any]:
    """A `running` journal whose controller is gone becomes `crashed` (in memory only: the
    file stays as the controller left it)."""
    if journal.get("status") != "running":
        return journal
    reason = gone(journal.get("controller") or {})
    if reason:
        journal["status"] = CRASHED
        journal["crashed"] = {"reason": reason}
    return journal
