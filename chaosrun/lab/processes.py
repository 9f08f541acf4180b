"""Controller-side processes of a lab: started detached, tracked by pid files.

A pid file records the pid and the exact command line, so a pid reused by an unrelated
program is never mistaken for ours, and a process started with another command line (an
older config, another clone of the repository) is recognised as stale and replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chaosrun.lab.state import OWNER_ENV, LabPaths


@dataclass(frozen=True)
class Spec:
    """A process the lab wants running."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies what was started: same argv, env and cwd means nothing to restart."""
        blob = json.dumps([self.argv, self.env, self.cwd]).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class Running:
    name: str
    pid: int
    argv: tuple[str, ...]
    alive: bool
    fingerprint: str = ""


def cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None  # a zombie or a kernel thread
    return tuple(part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0"))


def read(paths: LabPaths, name: str) -> Running | None:
    """What the pid file says, and whether that process is still the one we started."""
    try:
        data = json.loads(paths.pid_file(name).read_text())
        pid, argv = int(data["pid"]), tuple(data["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    alive = cmdline(pid) == argv
    return Running(name, pid, argv, alive, str(data.get("fingerprint", "")))


def start(paths: LabPaths, spec: Spec) -> int:
    """Start the process in its own session, detached from us, with its log file."""
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **dict(spec.env), OWNER_ENV: str(paths.root)}
    with open(paths.log_file(spec.name), "ab") as log:
        proc = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=spec.cwd,
            start_new_session=True,
        )
    # Not waited for: the process outlives this command. Mark it reaped for Python's sake.
    proc.returncode = 0
    # Just after exec /proc/<pid>/cmdline can still read empty; wait until it names the
    # program, so the pid file and the process agree from the first read.
    deadline = time.monotonic() + 5
    while cmdline(proc.pid) != spec.argv and _exists(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    record = {
        "pid": proc.pid,
        "argv": list(spec.argv),
        "fingerprint": spec.fingerprint,
        "started": time.time(),
    }
    paths.pid_file(spec.name).write_text(json.dumps(record) + "\n")
    return proc.pid


def ensure(paths: LabPaths, spec: Spec) -> bool:
    """Start the process unless the one running has the same command line. True if started."""
    running = read(paths, spec.name)
    if running and running.alive and running.fingerprint == spec.fingerprint:
        return False
    if running and running.alive:
        terminate(running.pid)
    start(paths, spec)
    return True


def stop(paths: LabPaths, name: str) -> bool:
    """Stop the process of this pid file (if it is still ours) and remove the file."""
    running = read(paths, name)
    paths.pid_file(name).unlink(missing_ok=True)
    if running and running.alive:
        terminate(running.pid)
        return True
    return False


def terminate(pid: int, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after timeout."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _exists(pid):
                return
            time.sleep(0.05)


def _exists(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it happens to be our child
    return alive(pid)


def alive(pid: int) -> bool:
    """Whether the pid names a live process (a zombie, killed but not reaped, is not)."""
    if pid <= 0:  # podman reports 0 for a container without a process
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def strays(paths: LabPaths, known: Sequence[int] = ()) -> list[int]:
    """Processes started for this lab (by their environment marker) not in `known`."""
    marker = f"{OWNER_ENV}={paths.root}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in known or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found
