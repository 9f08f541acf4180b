"""The run's processes end with the run, even when the controller is SIGKILLed.

Ansible's processes escape the controller's process group (ansible-runner starts
ansible-playbook in a session of its own and ignores SIGHUP; each Ansible worker starts
another session; ssh ControlMaster daemons detach), so neither a dying controller nor a
kill of its group reaches them. So a small guardian process, started in its own session
beside the controller, holds the read end of a pipe whose write end only the controller
holds. While the controller lives, the guardian notes every process below it (ten times
a second); the controller is a child subreaper, so an ssh ControlMaster that detaches stays
below it. The pipe reaches end-of-file when the controller ends, however it ends; the
guardian then ends every process it noted (the same pid and start time), every process
whose environment carries the run's marker (`CHAOSRUN_RUN_MARK=<run id>`, inherited by
whatever the run starts: a process started since the last look is found this way), and
every ssh ControlMaster in the run's own connection directory (a master's title overwrites
its environment, so the marker cannot find it, but its title names its socket): SIGTERM
first so ssh masters remove their sockets, then SIGKILL, and exits. The run points
Ansible's ssh connections at that directory too (ANSIBLE_SSH_CONTROL_PATH_DIR, and
ANSIBLE_SSH_CONTROL_PATH naming the run's own masters' sockets, so the playbooks share
them), so no master of another program is ever taken, and no master of the run is missed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from chaosrun.base import liveness

MARK = "CHAOSRUN_RUN_MARK"
CONTROL_PATH_DIR = "ANSIBLE_SSH_CONTROL_PATH_DIR"
CONTROL_PATH = "ANSIBLE_SSH_CONTROL_PATH"
GRACE_S = 0.5  # between SIGTERM and SIGKILL
SWEEP_S = 3.0  # a sweep stops looking after this long
# How often a sweep looks whether what it signalled has ended: an ssh master ends within
# milliseconds of SIGTERM, and the controller's exit waits for the sweep.
POLL_S = 0.01
LOOK_EVERY_S = 0.1  # how often the guardian notes the processes below the controller
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37


class Reaper:
    """Marks the processes this controller starts for one run; ends them with the run."""

    def __init__(
        self, run_id: str, control_dir: Path | None = None, control_path: str | None = None
    ) -> None:
        self.run_id = run_id
        self.control_dir = control_dir
        self.control_path = control_path  # Ansible's socket name there (hostshell)
        self._previous: dict[str, str | None] = {}
        self._guardian: subprocess.Popen[bytes] | None = None
        self._subreaper = 0

    def start(self) -> Reaper:
        self._set_env(MARK, self.run_id)
        if self.control_dir is not None:  # made by the run's HostShell, and by Ansible
            self._set_env(CONTROL_PATH_DIR, str(self.control_dir))
            if self.control_path is not None:
                self._set_env(CONTROL_PATH, self.control_path)
        self._subreaper = _subreaper(1)
        argv = [sys.executable, "-m", "chaosrun.run.reaper", self.run_id, str(os.getpid())]
        try:
            self._guardian = subprocess.Popen(
                [*argv, str(self.control_dir or "")],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a kill of the controller's group must spare it
                env={k: v for k, v in os.environ.items() if k != MARK},
            )
        except OSError:  # no guardian: the run still ends its processes on a normal exit
            self._guardian = None
        return self

    def _set_env(self, name: str, value: str) -> None:
        self._previous[name] = os.environ.get(name)
        os.environ[name] = value

    def stop(self) -> None:
        """End what is left of the run (ControlMaster connections, a stray worker)."""
        if self._guardian is not None and self._guardian.stdin is not None:
            self._guardian.stdin.close()  # the guardian sweeps, sparing this process
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._guardian.wait(SWEEP_S + GRACE_S + 5)
        else:
            sweep(self.run_id, spare={os.getpid()}, seen=_masters_in(self.control_dir))
            _clear(self.control_dir)
        _subreaper(self._subreaper)
        for name, value in self._previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def marked(run_id: str, spare: set[int]) -> list[int]:
    """Pids of processes whose environment carries this run's marker."""
    needle = f"\0{MARK}={run_id}\0".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in spare:
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry.name}/environ", "rb") as fh:
            if needle in b"\0" + fh.read():
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> dict[int, str]:
    """pid -> start time of every process below `pid` (the kernel's child lists)."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        with contextlib.suppress(OSError):
            for task in os.scandir(f"/proc/{parent}/task"):
                with contextlib.suppress(OSError), open(f"{task.path}/children") as fh:
                    for child in map(int, fh.read().split()):
                        started = liveness.process_start(child)
                        if started is not None and child not in found:
                            found[child] = started
                            todo.append(child)
    return found


def sweep(run_id: str, spare: set[int], seen: dict[int, str] | None = None) -> bool:
    """SIGTERM every marked or seen process, then SIGKILL those left; again until none is
    left (a process may fork while it is being looked for). Whether there was any."""
    deadline = time.monotonic() + SWEEP_S
    sig = signal.SIGTERM
    found = False
    while time.monotonic() < deadline:
        pids = set(marked(run_id, spare))
        pids |= {p for p, t in (seen or {}).items() if liveness.process_start(p) == t}
        pids -= spare
        if not pids:
            return found
        found = True
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        if sig == signal.SIGTERM:  # give them the grace to end, no longer than they need
            until = time.monotonic() + GRACE_S
            while time.monotonic() < until and any(
                liveness.process_start(p) is not None for p in pids
            ):
                time.sleep(POLL_S)
        else:
            time.sleep(POLL_S)
        sig = signal.SIGKILL
    return found


def _guard(run_id: str, controller: int, control_dir: Path | None) -> None:
    """The guardian: note the controller's processes until its end (end-of-file on
    stdin), then sweep them with the masters in the run's connection directory."""
    seen: dict[int, str] = {}
    # Only what started after the run did: a controller that runs the engine in-process
    # (a test, a scheduler) may have children of its own.
    born = int(liveness.process_start(os.getpid()) or 0)
    with contextlib.suppress(OSError):
        while True:
            ready, _, _ = select.select([0], [], [], LOOK_EVERY_S)
            said = os.read(0, 4096) if ready else b"-"
            if not said:
                break
            now = descendants(controller)
            seen.update({p: t for p, t in now.items() if int(t) >= born and p != os.getpid()})
    # Twice: an ssh client ended by the first sweep may have just detached its master (when
    # it ended none, nothing can have; the controller waits for this, a run's last step).
    for _ in range(2):
        seen.update(_masters_in(control_dir))
        if not sweep(run_id, spare={os.getpid(), controller}, seen=seen):
            break
    _clear(control_dir)


def _masters_in(control_dir: Path | None) -> dict[int, str]:
    """pid -> start time of every ssh ControlMaster whose socket is in the directory: its
    title is `ssh: <socket path> [mux]`."""
    if control_dir is None:
        return {}
    needle = str(control_dir).encode() + b"/"
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        title = b""
        with contextlib.suppress(OSError), open(f"/proc/{entry.name}/cmdline", "rb") as fh:
            title = fh.read()
        if b"[mux]" not in title or needle not in title:
            continue
        started = liveness.process_start(int(entry.name))
        if started is not None:
            found[int(entry.name)] = started
    return found


def _clear(control_dir: Path | None) -> None:
    """Remove the run's connection directory (a master SIGKILLed leaves its socket)."""
    if control_dir is None:
        return
    with contextlib.suppress(OSError):
        for entry in os.scandir(control_dir):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
        os.rmdir(control_dir)


def _subreaper(value: int) -> int:
    """Make this process a child subreaper (or not); returns the previous setting."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        previous = ctypes.c_int(0)
        libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(previous), 0, 0, 0)
        libc.prctl(PR_SET_CHILD_SUBREAPER, value, 0, 0, 0)
        return previous.value
    except (OSError, AttributeError):  # not Linux: the marker alone
        return 0


@contextlib.contextmanager
def reaping(run_id: str) -> Iterator[Reaper]:
    reaper = Reaper(run_id).start()
    try:
        yield reaper
    finally:
        reaper.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the controller's
    _guard(
        sys.argv[1],
        int(sys.argv[2]),
        Path(sys.argv[3]) if sys.argv[3:4] not in ([], [""]) else None,
    )
