"""`chaosrun status|recover|abort|freeze|unfreeze`: active faults, undo, the kill switch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chaosrun.base.errors import InvalidInput
from chaosrun.base.output import console, emit_json, info
from chaosrun.commands.options import (
    ConfigOpt,
    InventoryOpt,
    JsonOpt,
    RunsDirOpt,
    StateDirOpt,
    VaultFileOpt,
    VaultIdOpt,
    state_dir_or_default,
    use_runs_dir,
    use_vault,
)

if TYPE_CHECKING:
    from chaosrun.model.killswitch import Freeze
    from chaosrun.run.hostfreeze import HostsOutcome

ReasonOpt = Annotated[
    str, typer.Option("--reason", "-r", help="Why (required; goes to the audit log).")
]
HostsInventoryOpt = Annotated[
    Path | None,
    typer.Option(
        "-i",
        "--inventory",
        help="Freeze the hosts of this inventory (a marker on each host) instead of this "
        "controller. Never taken from CHAOSRUN_INVENTORY: the hosts are frozen only when asked.",
    ),
]
LimitOpt = Annotated[
    str, typer.Option("--limit", "-l", help="With -i: only the hosts matching this pattern.")
]


def _inventory(path: Path | None) -> Path:
    from chaosrun.hosts.inventory import default_inventory

    found = path or default_inventory()
    if found is None:
        raise InvalidInput("no inventory: pass -i INVENTORY (or set CHAOSRUN_INVENTORY)")
    return found


def status(
    inventory: InventoryOpt = None,
    pattern: Annotated[str, typer.Option("--hosts", help="Host pattern to look at.")] = "all",
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    state_dir: StateDirOpt = None,
    runs_dir: RunsDirOpt = None,
    vault_id: VaultIdOpt = None,
    vault_password_file: VaultFileOpt = None,
) -> None:
    """Show the faults active on the fleet, read from the hosts themselves."""
    from chaosrun.model import config as project_config
    from chaosrun.model import killswitch
    from chaosrun.ops import fleet

    use_vault(vault_id, vault_password_file)
    use_runs_dir(runs_dir)
    cfg = project_config.load(config)
    hosts_dir = state_dir_or_default(state_dir)
    found = fleet.survey(cfg, _inventory(inventory), pattern, hosts_dir)
    faults, problems = found.faults, found.problems
    crashed = fleet.crashed_runs(cfg, faults)
    freeze = killswitch.current(cfg.freeze_file)
    if as_json:
        emit_json(
            {
                "faults": [f.as_dict() for f in faults],
                "unreachable": [{"host": p.host, "message": p.message} for p in problems],
                "frozen": freeze.__dict__ if freeze else None,
                "frozen_hosts": found.frozen,
                "crashed": crashed,
            }
        )
    else:
        _print_frozen_hosts(found.frozen)
        _print_status(faults, problems, freeze)
        _print_crashed(crashed)
    if problems:
        raise typer.Exit(1)


def _print_frozen_hosts(frozen: dict[str, dict]) -> None:
    for host, marker in frozen.items():
        line = marker.get("line") or f"frozen by {marker.get('user')}: {marker.get('reason')}"
        console.print(f"[bold red]FROZEN[/] {host}: {line}", soft_wrap=True)


def _print_crashed(crashed: list[dict]) -> None:
    for run in crashed:
        left = run["faults_left_on"]
        hosts = (
            f"fault still on {', '.join(left)} (run `chaosrun recover --run {run['run_id']}`)"
            if left
            else "no fault of it left on the hosts read (their leases reverted them)"
        )
        console.print(f"run {run['run_id']} CRASHED: {run['reason']}; {hosts}", soft_wrap=True)


def _print_status(faults, problems, freeze) -> None:
    from rich.table import Table

    if freeze:
        console.print(f"[bold red]FROZEN[/]: {freeze.message()}")
    if not faults:
        console.print("no active fault")
    elif not console.is_terminal:  # logs and pipes: one full line per fault, never cut
        for f in faults:
            data = f.as_dict()
            alive = {True: "alive", False: "dead", None: "unknown"}[f.controller_alive]
            console.print(
                f"{f.host} run={f.run_id} role={f.role} since={data['since']} "
                f"armed_until={data['armed_until']} controller={f.controller} ({alive}) "
                f"{'ORPHANED' if f.orphaned else 'renewed'}",
                soft_wrap=True,
            )
    else:
        table = Table("host", "run", "role", "since", "armed until", "controller", "state")
        now = time.time()
        for f in faults:
            left = f"{f.armed_until - now:+.0f}s" if f.armed_until else "?"
            alive = {True: "alive", False: "dead", None: "unknown"}[f.controller_alive]
            state = "[red]orphaned[/]" if f.orphaned else "renewed"
            data = f.as_dict()
            table.add_row(
                f.host,
                f.run_id,
                f.role,
                data["since"] or "?",
                f"{data['armed_until'] or '?'} ({left})",
                f"{f.controller or '?'} ({alive})",
                state,
            )
        console.print(table)
    for p in problems:
        info(f"[yellow]{p.host}: no answer: {p.message}[/]")


def recover(
    inventory: InventoryOpt = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Recover the faults of this run.")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Recover every orphaned fault on the fleet.")
    ] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    state_dir: StateDirOpt = None,
    runs_dir: RunsDirOpt = None,
    vault_id: VaultIdOpt = None,
    vault_password_file: VaultFileOpt = None,
) -> None:
    """Undo orphaned faults (their controller is gone) with their own revert scripts."""
    from chaosrun.model import config as project_config
    from chaosrun.ops import fleet

    use_vault(vault_id, vault_password_file)
    use_runs_dir(runs_dir)
    cfg = project_config.load(config)
    done = fleet.recover(
        cfg, _inventory(inventory), run, everything, state_dir_or_default(state_dir)
    )
    failed = [k for k, v in done.outcomes.items() if v != "reverted"]
    if as_json:
        emit_json(
            {
                "faults": [f.as_dict() for f in done.faults],
                "outcomes": done.outcomes,
                "steps_ended": done.steps_ended,
                "unreachable": [{"host": p.host, "message": p.message} for p in done.problems],
            }
        )
    else:
        if not done.outcomes:
            console.print("nothing to recover")
        for host, runs in sorted(done.steps_ended.items()):
            for run_id in runs:
                console.print(
                    f"{host}: ended a step of run {run_id} still running on the host",
                    soft_wrap=True,
                )
        for key, outcome in sorted(done.outcomes.items()):
            console.print(f"{key}: {outcome}")
        for p in done.problems:
            info(f"[yellow]{p.host}: no answer, not recovered: {p.message}[/]")
    if failed:
        raise typer.Exit(5)
    if done.problems:
        raise typer.Exit(1)


def abort(
    run_id: Annotated[str, typer.Argument(help="The run id (its directory under the run dir).")],
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Why (goes to the audit log and journal).")
    ] = "chaosrun abort",
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Make a running experiment roll back now; it exits 3."""
    from chaosrun.model import config as project_config
    from chaosrun.ops import fleet

    use_runs_dir(runs_dir)
    cfg = project_config.load(config)
    pid = fleet.abort(cfg, run_id, reason)
    console.print(f"abort requested: run {run_id} (pid {pid}) is rolling back")


def freeze(
    reason: ReasonOpt = "",
    inventory: HostsInventoryOpt = None,
    limit: LimitOpt = "all",
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Pull the kill switch: no run starts, running ones abort and roll back.

    Without -i: this controller's project (its runs, cron entries and clones sharing the
    freeze file). With -i: every host of the inventory (or --limit) carries a freeze marker
    that refuses every inject, whichever controller asks, and its active faults are
    reverted now."""
    from chaosrun.model import config as project_config
    from chaosrun.model import killswitch
    from chaosrun.run import hostfreeze

    cfg = project_config.load(config)
    if inventory is None:
        state = killswitch.freeze(cfg.freeze_file, reason, cfg.audit_path, cfg.webhooks)
        if as_json:
            emit_json({"frozen": state.__dict__, "scope": "controller"})
        else:
            console.print(f"[bold red]frozen[/]: {state.reason} ({cfg.freeze_file})")
        return
    hosts_dir = state_dir_or_default(state_dir)
    state, outcome = hostfreeze.freeze(cfg, inventory, limit, reason, hosts_dir)
    if as_json:
        emit_json({"frozen": state.__dict__, "scope": "hosts", **outcome.as_dict()})
    else:
        _print_host_freeze(state, outcome)
    _exit_for(outcome)


def _print_host_freeze(state: Freeze, outcome: HostsOutcome) -> None:
    if outcome.done:
        console.print(
            f"[bold red]frozen[/] {len(outcome.done)} host(s): {', '.join(outcome.done)}: "
            f"{state.reason}",
            soft_wrap=True,
        )
    for host, faults in outcome.reverted.items():
        console.print(f"{host}: reverted {', '.join(faults)}", soft_wrap=True)
    for host, faults in outcome.revert_failed.items():
        console.print(
            f"[bold white on red]REVERT FAILED[/] {host}: {'; '.join(faults)} (frozen; "
            "a fault may still be active: `chaosrun status -i`, `chaosrun recover -i`)",
            soft_wrap=True,
        )
    _print_unreachable(outcome, "NOT frozen")


def _print_unreachable(outcome: HostsOutcome, what: str) -> None:
    for host, why in outcome.unreachable.items():
        info(f"[yellow]{host}: no answer, {what}: {why}[/]")


def _exit_for(outcome: HostsOutcome) -> None:
    if outcome.revert_failed:
        raise typer.Exit(5)
    if outcome.unreachable:
        raise typer.Exit(1)


def unfreeze(
    reason: ReasonOpt = "",
    inventory: HostsInventoryOpt = None,
    limit: LimitOpt = "all",
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Release the kill switch (with -i: remove the hosts' freeze markers)."""
    from chaosrun.model import config as project_config
    from chaosrun.model import killswitch
    from chaosrun.run import hostfreeze

    cfg = project_config.load(config)
    if inventory is None:
        before = killswitch.unfreeze(cfg.freeze_file, reason, cfg.audit_path, cfg.webhooks)
        if as_json:
            emit_json({"lifted": before.__dict__ if before else None, "scope": "controller"})
        else:
            console.print("unfrozen" if before else "was not frozen")
        return
    hosts_dir = state_dir_or_default(state_dir)
    outcome = hostfreeze.unfreeze(cfg, inventory, limit, reason, hosts_dir)
    if as_json:
        emit_json({"scope": "hosts", **outcome.as_dict()})
    else:
        for host, was in outcome.lifted.items():
            console.print(f"unfrozen {host} (was: {was.reason}, by {was.user}@{was.host})")
        if not outcome.done and not outcome.unreachable:
            console.print("no host was frozen")
    _print_unreachable(outcome, "still frozen if it was")
    _exit_for(outcome)


def register(app: typer.Typer) -> None:
    """Add the fleet-control commands to the root app."""
    for command in (status, recover, abort, freeze, unfreeze):
        app.command(command.__name__)(command)
