"""Inject's playbook started as soon as `chaosrun run` has read the experiment file.

Planning (the inventory read by ansible-core, the role's argument specs, the hosts
chosen) takes a third of a second on an idle controller, and an ansible-playbook start
about half a second more. Inject's playbook needs nothing of the plan to start: its role
and the inventory's path are known once the experiment is read, and its hosts and the
role's vars come with its release (chaosrun.run.prestart). So `Starter`, called between
reading the experiment and planning it, chooses the run's id, starts the run's guardian
(chaosrun.run.reaper: the run's processes end with it, and Ansible's ssh connections are
the run's own from the start) and inject's playbook, which then starts beside the
planning instead of after it. In a warm process's fork that has a spare ready (`SPARE`,
chaosrun.run.spare: the same playbook started before the command), `Starter` takes the
spare's guardian and playbook instead, when nothing they read has changed.

The engine takes both (`Started`) when what it would have started itself is the same:
the ssh control path (a host that skips host key checking must not join a shared
connection: Ansible's setting says which to expect, a host's own variable may differ) and
every selected host in one batch of forks. A run the kill switch or an open blackout
window refuses starts nothing (those checks need no inventory). Otherwise, or when the run
never reaches an engine (planning refused it, a ramp runs engines of its own),
`Started.discard` ends the play, which touched no host, and the guardian; before any
engine, it also removes the run's directory, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from chaosrun.hosts import hostshell
from chaosrun.model import config as project_config
from chaosrun.model import safety
from chaosrun.model.experiment import Experiment
from chaosrun.plan.planning import lease_ttl, resolve_inventory
from chaosrun.run import prestart, reaper, spare
from chaosrun.run.runid import make_run_id

FORKS = prestart.FORKS  # the most hosts a play started before its plan covers
# The longest planning waits for the play's process to be started.
SPAWN_WAIT_S = 2.0
# Set to 0 to start inject's playbook only once the run is planned (to compare the two).
ENV_SWITCH = "CHAOSRUN_EARLY_INJECT"
# Set by the warm process (chaosrun.warm.server) in the process that runs a command: a
# spare prepared before the command (chaosrun.run.spare), and where to tell what a spare
# for the next run would start (the role, the inventory, the runs' directory).
SPARE: spare.Spare | None = None
HINTS: Callable[[dict[str, str]], None] | None = None


def inject_wait_s(experiment: Experiment, ttl: int) -> int:
    """How long inject's started-ahead playbook waits for its release: preflight, the
    steady state and its baseline window, and the lease's first renewal come first."""
    return int(600 + experiment.baseline_window + ttl)


@dataclass
class Started:
    """A run begun before its plan: its id and directory, its guardian, inject's play."""

    run_id: str
    run_dir: Path
    guardian: reaper.Reaper
    pending: prestart.Pending
    control_path: str | None
    # Directories made for the run that did not exist before it (deepest first).
    made: list[Path] = field(default_factory=list)
    # Where its ssh masters are (hostshell.run_control_dir of the run's, or its spare's, id).
    control_dir: Path | None = None
    taken: bool = False
    # The selected hosts' shell and preflight's answers from them, once the plan allowed
    # the run (chaosrun.run.preflight.ask_ahead); None when the hosts were not asked.
    shell: hostshell.HostShell | None = None
    asked: Future[dict[str, hostshell.Answer]] | None = None

    def __post_init__(self) -> None:
        if self.control_dir is None:
            self.control_dir = hostshell.run_control_dir(self.run_id)

    def fits(self, control_path: str | None, hosts: int) -> bool:
        """Whether the engine of the planned run would have started the same play."""
        return self.control_path == control_path and hosts <= FORKS

    def discard(self, keep_dir: bool = False) -> None:
        """End the play (it never touched a host) and the guardian; unless `keep_dir`, the
        run's directory goes too."""
        self.pending.abandon()
        self.guardian.stop()
        if not keep_dir:
            _remove(self.run_dir, self.made)


class Starter:
    """`on_read` of chaosrun.plan.planning.load_plan: starts the run when it is read."""

    def __init__(self, run_root: Path, inventory: Path | None) -> None:
        self.run_root = run_root
        self.inventory = inventory
        self.started: Started | None = None

    def __call__(self, experiment: Experiment, cfg: project_config.Config) -> None:
        global SPARE
        ready, SPARE = SPARE, None
        try:
            self._start(experiment, cfg, ready)
        finally:
            if ready is not None and (
                self.started is None or self.started.guardian is not ready.guardian
            ):
                ready.discard()

    def _start(
        self, experiment: Experiment, cfg: project_config.Config, ready: spare.Spare | None
    ) -> None:
        if experiment.targets.ramp or os.environ.get(ENV_SWITCH, "1") == "0":
            return
        if safety.refuses_now(cfg, experiment.blackout_windows):
            return  # frozen or in a blackout: the plan refuses it, nothing to start for it
        try:
            inventory = resolve_inventory(self.inventory)
        except Exception:  # the planning says what is wrong with it
            return
        role = experiment.fault.role
        if HINTS is not None:
            HINTS({"role": role, "inventory": str(inventory), "run_root": str(self.run_root)})
        run_id = make_run_id(experiment.file.stem)
        run_dir = self.run_root / run_id
        made = _missing(run_dir)
        if ready is not None and ready.usable(role, inventory, self.run_root):
            ready.take(run_dir)
            self.started = Started(
                run_id, run_dir, ready.guardian, ready.pending, ready.control_path, made,
                control_dir=ready.control_dir,
            )  # fmt: skip
            return
        wait_s = inject_wait_s(experiment, lease_ttl(experiment, cfg))
        begun = prestart.begin_play(run_id, run_dir / prestart.INJECT_DIR, role, inventory, wait_s)
        if begun is None:
            _remove(run_dir, made)
            return
        guardian, pending, control_path = begun
        # Its thread prepares the process, which planning's Python would slow down (one
        # interpreter lock): planning waits the few hundredths of a second until it runs.
        pending.spawned(SPAWN_WAIT_S)
        self.started = Started(run_id, run_dir, guardian, pending, control_path, made)

    def discard(self) -> None:
        """The run never reached an engine: end what was started for it."""
        if self.started is not None and not self.started.taken:
            self.started.discard()


def _missing(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove(run_dir: Path, made: list[Path]) -> None:
    """The run's directory, and the parents made for it that nothing else uses."""
    shutil.rmtree(run_dir, ignore_errors=True)
    for path in made[1:]:
        try:
            path.rmdir()
        except OSError:  # something else is in it now
            break
