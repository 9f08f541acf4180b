"""What a run starts first, before the engine is imported: its reaper and inject's playbook.

Inject waits for its started-ahead ansible-playbook (chaosrun.run.prestart) to be ready,
0.7-1 s after it starts; started by the engine, it started after the engine's imports and
set-up. `start` starts it as soon as the plan is known, so that start-up overlaps the
engine's import as well as preflight; the engine takes the `Launch` over (its run id, host
shell, reaper, plays). The reaper comes first: the playbook's environment names the run's
masters and marks its processes as the run's. `role_vars` are what every phase's play of
the run gets.
"""

from __future__ import annotations

import datetime as dt
import secrets as pyrandom
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.base.phases import Phase
from chaosrun.hosts import hostshell, runner
from chaosrun.model.audit import controller_id
from chaosrun.plan.planning import Plan
from chaosrun.run import prestart, reaper
from chaosrun.run.progress import Progress


def make_run_id(stem: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    slug = "".join(c if c.isalnum() else "-" for c in stem.lower()).strip("-")[:40] or "run"
    return f"{stamp}-{slug}-{pyrandom.token_hex(2)}"


def role_vars(plan: Plan, run_id: str, expect: str | None) -> dict[str, Any]:
    """The vars of the run's fault plays: the experiment's role vars and the run's own."""
    values: dict[str, Any] = {
        **plan.experiment.fault.vars,
        "chaos_run_id": run_id,
        "chaos_ttl": plan.ttl,
        "chaos_state_dir": plan.state_dir,
        # user@host:pid, so `chaosrun status` can tell whether this run still lives.
        "chaos_controller": controller_id(),
        # The `experiment` label of chaosrun_fault_active on the hosts' dashboards.
        "chaos_experiment": plan.experiment.title,
        # check() validated the vars before any host was touched: no per-host repeat.
        "chaos_validated": True,
    }
    if expect:
        values[f"{plan.role.short}_expect"] = expect
    return values


def inject_wait_s(plan: Plan) -> float:
    """How long inject's playbook waits for its release: preflight, the steady state, the
    baseline window and the lease's ttl, with room."""
    return 600 + plan.experiment.baseline_window + plan.ttl


@dataclass
class Launch:
    """A run started: what the engine takes over."""

    run_id: str
    run_dir: Path
    shell: hostshell.HostShell
    reaper: reaper.Reaper
    finishing: runner.Finishing
    pending: dict[Phase, prestart.Pending] = field(default_factory=dict)

    def abandon(self) -> None:
        """No engine took it over: end its plays (touching no host) and its reaper."""
        while self.pending:
            self.pending.popitem()[1].abandon()
        self.reaper.stop()


def start(plan: Plan, run_root: Path, progress: Progress, run_id: str | None = None) -> Launch:
    """The run's reaper, then inject's playbook (verify(active) runs behind it)."""
    run_id = run_id or make_run_id(plan.experiment.file.stem)
    hosts = list(plan.selection.selected)
    shell = hostshell.HostShell(
        [plan.inventory.host_info(h) for h in hosts],
        control_dir=hostshell.run_control_dir(run_id),
    )
    run_reaper = reaper.Reaper(run_id, shell.control_dir, shell.ansible_control_path()).start()
    launch = Launch(run_id, run_root / run_id, shell, run_reaper, runner.Finishing())
    pending = prestart_play(
        plan, progress, Phase.INJECT, "active", launch.run_dir, run_id, launch.finishing
    )
    if pending is not None:
        launch.pending[Phase.INJECT] = pending
    return launch


def prestart_play(
    plan: Plan,
    progress: Progress,
    phase: Phase,
    expect: str | None,
    run_dir: Path,
    run_id: str,
    finishing: runner.Finishing,
) -> prestart.Pending | None:
    """`phase`'s playbook started now, to be released when the phase begins (None when it
    could not start: the phase then starts its own)."""
    wait_s = inject_wait_s(plan) if phase is Phase.INJECT else plan.experiment.duration + 600
    return prestart.start(
        role=plan.experiment.fault.role,
        variables=role_vars(plan, run_id, expect),
        hosts=len(plan.selection.selected),
        inventory=plan.inventory.path,
        work_dir=run_dir / "ansible" / phase,
        wait_s=wait_s,
        on_event=lambda h, s, t: progress.host(phase, h, s, t),
        finishing=finishing,
    )
