"""A phase's ansible-playbook, started ahead of its phase and released when it begins.

Starting ansible-playbook (Python, Ansible's imports, the inventory, the plugins) costs one
to three seconds of a busy controller; a phase that starts its own pays them while the
operator waits for the fault. `Pending` starts playbooks/fault.yml early with a release
FIFO: the playbook's first play reads it on the controller, so the process sits ready
there. `release` writes the role's variables (a vars file the fault's plays read when they
start) and the hosts and entry points decided when the phase begins (and those the same
process runs next: inject, then verify), and returns the play's result as soon as it is
known (its process ends in the background, held by the run's
`runner.Finishing`); `abandon` ends a play that will not be needed without it touching
any host. A pending play that is no longer waiting (its wait ran out, it failed
to start) is never used: `release` answers None and the caller starts a fresh one.

Nothing of the plan is needed to start one but the role, the inventory and the run's
directory, so `chaosrun run` starts inject's as soon as the experiment is read, beside
the planning (chaosrun.run.early); `adopt` then hands its events to the engine.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaosrun.base import filemodes
from chaosrun.base.phases import Phase
from chaosrun.hosts import ansiblecfg, hostshell, runner
from chaosrun.hosts.playbook_main import RELEASE_VARS_NAME
from chaosrun.run import reaper

# Forks of a play started before the hosts are chosen: Ansible runs min(forks, hosts)
# workers, so this is the most hosts it covers at once, as the engine's own would.
FORKS = 500
# Where a run (or a spare, chaosrun.run.spare) keeps inject's Ansible files, in its directory.
INJECT_DIR = Path("ansible") / Phase.INJECT
# How often a release looks again for the playbook's reader while it is still starting.
POLL_S = 0.02
# How long `abandon` waits for the abandoned playbook to end.
ABANDON_WAIT_S = 10.0


class Pending:
    """One fault.yml process waiting for its phase; its events go to `on_event`. The role's
    vars come with the release; the engine checked them against the role's argument specs
    before any release, so the plays skip Ansible's per-host validation (`chaos_validated`,
    read when the playbook is)."""

    def __init__(
        self,
        *,
        role: str,
        hosts: int,
        inventory: Path,
        work_dir: Path,
        wait_s: float,
        on_event: runner.EventSink | None = None,
        finishing: runner.Finishing | None = None,
    ) -> None:
        filemodes.group_dirs(work_dir)
        self.fifo = work_dir / "release.fifo"
        self.vars_file = work_dir / RELEASE_VARS_NAME
        self.fifo.unlink(missing_ok=True)
        self.vars_file.unlink(missing_ok=True)
        os.mkfifo(self.fifo, 0o600)
        self.result = runner.PlayResult(status="unknown", rc=-1)
        self._cancel: Callable[[], bool] | None = None
        self.on_event = on_event
        self.spawning = threading.Event()  # ansible-runner starts the process
        release = {
            "chaos_validated": True,
            "chaos_release_file": str(self.fifo),
            "chaos_release_wait_s": max(1, int(wait_s)),
            "chaos_release_vars": str(self.vars_file),
        }
        play = runner.fault_play(
            role=role,
            variables=release,
            result=self.result,
            forks=hosts,
            inventory=inventory,
            work_dir=work_dir,
            on_event=self._event,
            canceled=self._canceled,
            spawning=self.spawning,
        )
        self._play = runner.Background(f"prestart-{work_dir.name}", play)
        self._finishing = finishing

    def spawned(self, timeout: float) -> bool:
        """Wait until ansible-runner starts the playbook's process (False: it ended first,
        or `timeout` ran out)."""
        deadline = time.monotonic() + timeout
        while not self.spawning.wait(POLL_S):
            if self.ended() or time.monotonic() > deadline:
                return False
        return True

    def adopt(self, on_event: runner.EventSink | None, finishing: runner.Finishing) -> None:
        """Hand the play's host events and its end to the run that will release it."""
        self.on_event = on_event
        self._finishing = finishing

    def _event(self, host: str, status: str, text: str) -> None:
        if self.on_event is not None:
            self.on_event(host, status, text)

    def _canceled(self) -> bool:
        cancel = self._cancel
        return cancel is not None and cancel()

    def ended(self, timeout: float = 0.0) -> bool:
        """Whether the playbook's process has ended (waiting up to `timeout` for it)."""
        self._play.thread.join(timeout)
        return not self._play.thread.is_alive()

    def release(
        self,
        hosts: list[str],
        entry_points: list[str],
        variables: dict[str, Any],
        cancel: Callable[[], bool] | None = None,
        then: list[str] | None = None,
        then_events: runner.EventSink | None = None,
    ) -> runner.PlayResult | None:
        """Begin the phase on `hosts` with the role's `variables`; its result once known
        (the play's stats). None: the playbook is not waiting any more and touched nothing
        (start a fresh one).

        `then`: entry points the same process runs next, on the hosts where `entry_points`
        succeeded; the result is then known when they begin, and its `then` is theirs (their
        events go to `then_events`). `cancel` cancels the whole play, both stages."""
        runner.check_entry_points(entry_points, then or [])
        self.result.hosts = dict.fromkeys(hosts, "not run")
        if then:
            self.result.then = runner.PlayResult("unknown", -1, on_event=then_events)
        self._cancel = cancel
        # Read by the fault's plays when each starts, so it is in place before the release.
        runner.write_vars(self.vars_file, variables)
        release = {"hosts": hosts, "entry_points": entry_points, "then": then or []}
        if not self._write(release, wait=True):
            self.vars_file.unlink(missing_ok=True)
            self._cancel = None
            self.result.then = None
            return None
        if self._finishing is not None:  # an abandoned one is `abandon`'s to end
            self._finishing.add(self._play)
        return self._play.wait()

    def abandon(self) -> None:
        """End the playbook without its phase: released for no host when it is waiting,
        killed (before it reached any host) when it is still starting."""
        if self.ended():
            return
        if not self._write({"hosts": [], "entry_points": []}, wait=False):
            self._cancel = lambda: True
        self.ended(ABANDON_WAIT_S)

    def _write(self, release: dict[str, Any], wait: bool) -> bool:
        """Hand `release` to the playbook's reader: once it reads (`wait`: when it gets
        there, as long as the playbook lives). False when no reader took it."""
        while True:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: nobody reads the FIFO yet
                    raise
            if not wait or self.ended():
                return False
            time.sleep(POLL_S)
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
            os.write(fd, json.dumps(release).encode())
        except BrokenPipeError:  # the reader gave up (its wait ran out) in between
            return False
        finally:
            os.close(fd)
        return True


def start(**kwargs: Any) -> Pending | None:
    """A `Pending` play, or None when it cannot be started (the phase then starts its own)."""
    try:
        return Pending(**kwargs)
    except OSError:
        return None


def begin_play(
    run_key: str, work_dir: Path, role: str, inventory: Path, wait_s: float
) -> tuple[reaper.Reaper, Pending, str | None] | None:
    """The guardian of the processes marked `run_key` and inject's playbook in `work_dir`,
    waiting for its release, and the ssh control path both expect; None when the playbook
    could not be started (the guardian has ended)."""
    # The engine's plays' control path when every host checks its host key
    # (hostshell.HostShell.ansible_control_path); Ansible's setting says which to expect. A
    # host of the inventory may say otherwise: then the engine does not take the play.
    control_path = (
        hostshell.HostShell.shared_control_path()
        if ansiblecfg.setting("HOST_KEY_CHECKING")
        else None
    )
    guardian = reaper.Reaper(run_key, hostshell.run_control_dir(run_key), control_path).start()
    pending = start(role=role, hosts=FORKS, inventory=inventory, work_dir=work_dir, wait_s=wait_s)
    if pending is None:
        guardian.stop()
        return None
    return guardian, pending, control_path
