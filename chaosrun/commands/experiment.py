"""`chaosrun validate|plan|run`: check, preview and execute experiments."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from chaosrun.base.errors import ChaosrunError, InvalidInput, Refused
from chaosrun.base.output import console, emit_json, err_console, error, info, warn
from chaosrun.base.phases import RUN_ORDER
from chaosrun.commands import collector
from chaosrun.commands.options import (
    InventoryOpt,
    JsonOpt,
    RunsDirOpt,
    SeedOpt,
    SetOpt,
    VaultFileOpt,
    VaultIdOpt,
    project_file,
    use_runs_dir,
    use_vault,
)
from chaosrun.commands.outcome import exit_with, last_words, outcome_json

if TYPE_CHECKING:
    from chaosrun.base.errors import Loosened
    from chaosrun.model.config import Config
    from chaosrun.model.experiment import Experiment
    from chaosrun.plan.planning import Plan
    from chaosrun.run.early import Started
    from chaosrun.run.engine import Outcome
    from chaosrun.run.progress import Progress


def register(app: typer.Typer) -> None:
    """Add the experiment commands to the root app."""
    app.command("validate")(validate)
    app.command("plan")(plan)
    app.command("run")(run)


def validate(
    experiments: Annotated[list[Path], typer.Argument(help="Experiment files to check.")],
    inventory: InventoryOpt = None,
    overrides: SetOpt = None,
    as_json: JsonOpt = False,
    vault_id: VaultIdOpt = None,
    vault_password_file: VaultFileOpt = None,
) -> None:
    """Check experiment files without touching anything; print time-to-detect per guardrail.

    A secret chaosrun.yml names that this shell cannot read (a CI job without the
    Prometheus password) is a warning here: plan, run and drill refuse without it."""
    use_vault(vault_id, vault_password_file)
    from chaosrun.base.errors import Loosened
    from chaosrun.hosts.inventory import default_inventory, load_inventory
    from chaosrun.model import config as project_config
    from chaosrun.model.experiment import load_experiment
    from chaosrun.plan.planning import defaults_from
    from chaosrun.plan.validation import check

    try:
        cfg = project_config.load()
    except InvalidInput as exc:  # every problem of chaosrun.yml, one line each
        _config_problems(str(exc).splitlines(), as_json)
    # A run-time matter: the files are valid, the run needs them (plan, run, drill refuse).
    unread = [f"{line} (plan, run and drill need it)" for line in cfg.unread_secrets]
    if not as_json:
        for line in unread:
            warn(line)
    defaults = defaults_from(cfg)
    inv = None
    inv_path = inventory or default_inventory()
    if inv_path is not None:
        inv = load_inventory(str(inv_path.resolve()))
    results, failed = [], 0
    for path in (project_file(p, "experiments") for p in experiments):
        try:
            exp = load_experiment(path, overrides or [], defaults)
            report = check(exp, inv, cfg.caps)
        except InvalidInput as exc:
            if isinstance(exc, Loosened):
                _audit_loosened(cfg.audit_path, "validate", exc)
            failed += 1
            for line in str(exc).splitlines():
                error(line)
            results.append({"file": str(path), "ok": False, "errors": str(exc).splitlines()})
            continue
        results.append(_validate_entry(path, report))
        if not as_json:
            _print_validation(path, report)
    if as_json:
        config_doc = {"ok": True, "errors": [], "warnings": unread}
        emit_json({"ok": failed == 0, "config": config_doc, "files": results})
    if failed:
        raise typer.Exit(InvalidInput.exit_code)


def _config_problems(problems: list[str], as_json: bool) -> NoReturn:
    """Print the project configuration's problems the way an experiment's are shown."""
    for line in problems:
        error(line)
    if as_json:
        config_doc = {"ok": False, "errors": problems, "warnings": []}
        emit_json({"ok": False, "config": config_doc, "files": []})
    raise typer.Exit(InvalidInput.exit_code)


def _validate_entry(path: Path, report) -> dict:
    return {
        "file": str(path),
        "ok": True,
        "matched": report.matched,
        "detection": [
            {"guardrail": n, "worst_case_s": round(t, 3), "parts": parts}
            for n, t, parts in report.detection
        ],
        "warnings": report.warnings,
    }


def _print_validation(path: Path, report) -> None:
    console.print(f"[green]ok[/] {path}", soft_wrap=True)
    for name, seconds, parts in report.detection:
        console.print(f"  guardrail {name!r}: worst-case detection {seconds:.1f}s ({parts})")
    for text in report.warnings:
        warn(text)


def plan(
    experiment: Annotated[Path, typer.Argument(help="Experiment file.")],
    inventory: InventoryOpt = None,
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
    vault_id: VaultIdOpt = None,
    vault_password_file: VaultFileOpt = None,
) -> None:
    """Show what a run would do to which hosts; touches nothing."""
    use_vault(vault_id, vault_password_file)
    from chaosrun.model import fault_time, zones

    p = _load_plan(
        project_file(experiment, "experiments"), inventory, overrides or [], seed, "plan"
    )
    exp = p.experiment
    held = fault_time.of(exp.duration, exp.targets.ramp)
    ceiling = fault_time.ceiling_text(p.config.max_duration_s, p.config.max_duration_source)
    doc = {
        "experiment": {"title": exp.title, "file": str(exp.file), "severity": exp.severity},
        "inventory": str(p.inventory.path),
        "targets": {
            "pattern": p.selection.pattern,
            "matched": p.selection.matched,
            "excluded": p.selection.excluded,
            "selected": p.selection.selected,
            **zones.journal_fields(p.selection),
        },
        "fault": {
            "role": exp.fault.role,
            "role_path": str(p.role.path),
            "vars": p.public_vars(),
            "ttl_s": p.ttl,
        },
        "duration_s": exp.duration,
        "fault_on_s": held.seconds,
        "max_duration": {"s": p.config.max_duration_s, "source": p.config.max_duration_source},
        "prometheus": p.prometheus_url,
        "steady_state": [s.name for s in exp.steady_state],
        "guardrails": {
            "interval_s": exp.guardrails.interval,
            "breaches_in_a_row": exp.guardrails.breaches_in_a_row,
            "unknown_budget": exp.guardrails.unknown_budget,
            "probes": [
                {"name": n, "worst_case_detection_s": round(t, 3)} for n, t, _ in p.report.detection
            ],
        },
        "recovery_within_s": exp.recovery_within,
        "blast_radius": p.report.blast_radius.as_dict() if p.report.blast_radius else None,
        "ramp": list(exp.targets.ramp),
        "overrides": p.public_overrides(),
        "phases": [p.value for p in RUN_ORDER],
    }
    if as_json:
        emit_json(p.redactor.data(doc))
        return
    t = doc["targets"]
    lines = [
        f"[bold]{exp.title}[/] ({exp.file}, severity {exp.severity})",
        f"inventory: {doc['inventory']}",
        f"targets: {t['pattern']!r} matches {len(t['matched'])}: {', '.join(t['matched'])}",
        f"selected: {', '.join(t['selected'])}"
        + (f" (excluded: {', '.join(t['excluded'])})" if t["excluded"] else ""),
        *zones.plan_lines(p.selection),
        f"fault: {exp.fault.role} inject -> verify active -> rollback -> verify inactive",
        f"  vars: {doc['fault']['vars']}",
        f"  on-host lease: {p.ttl}s (renewed while the run lives)",
        f"duration: {held.text()} (ceiling: {ceiling})",
        f"Prometheus: {p.prometheus_url or 'none'}",
        f"steady state: {', '.join(doc['steady_state']) or 'none'}",
    ]
    for name, seconds, _ in p.report.detection:
        lines.append(
            f"guardrail {name!r}: every {exp.guardrails.interval:g}s, "
            f"worst-case detection {seconds:.1f}s"
        )
    lines.append(f"recovery: steady state again within {exp.recovery_within:g}s")
    if p.report.blast_radius:
        lines.append(f"blast radius: {p.report.blast_radius.summary()}")
        lines.extend(f"  {reason}" for reason in p.report.blast_radius.reasons)
    if exp.targets.ramp:
        lines.append(
            f"ramp: {', '.join(map(str, exp.targets.ramp))} (stops at the first failing step)"
        )
    for line in lines:
        console.print(p.redactor.text(line), soft_wrap=True)
    for text in p.report.warnings:
        warn(text)


def run(
    experiment: Annotated[Path, typer.Argument(help="Experiment file.")],
    inventory: InventoryOpt = None,
    overrides: SetOpt = None,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
    runs_dir: RunsDirOpt = None,
    vault_id: VaultIdOpt = None,
    vault_password_file: VaultFileOpt = None,
    allow_irreversible: Annotated[
        bool, typer.Option("--allow-irreversible", help="Allow faults that cannot be undone.")
    ] = False,
    scheduled: Annotated[
        str | None,
        typer.Option(
            "--scheduled",
            help="Run as slot of this schedule: jitter, hours, gap, probability first.",
        ),
    ] = None,
) -> None:
    """Run an experiment: steady state, inject, guardrails, rollback, recovery, journal.

    Exit codes: 0 passed; 1 steady state did not recover; 2 invalid input; 3 aborted
    (guardrail, UNKNOWN budget, signal) and rolled back; 4 refused by preflight;
    5 rollback failed (a fault may still be active).
    """
    if scheduled:
        from chaosrun.modes import slots
        from chaosrun.modes.schedules import gate

        # The slot's end (whichever way, a broken chaosrun.yml included) is recorded and,
        # when it failed, announced.
        with slots.guard(scheduled, str(experiment)) as slot:
            experiment = project_file(experiment, "experiments")
            decision = gate(scheduled, str(experiment))
            info(f"schedule {scheduled}: {'go' if decision.go else 'skipped'}: {decision.reason}")
            slot.skipped = not decision.go
            if decision.go:
                run(
                    experiment,
                    inventory,
                    overrides,
                    seed,
                    as_json,
                    runs_dir=runs_dir,
                    vault_id=vault_id,
                    vault_password_file=vault_password_file,
                    allow_irreversible=allow_irreversible,
                )
        return
    use_vault(vault_id, vault_password_file)
    root = use_runs_dir(runs_dir)
    experiment = project_file(experiment, "experiments")
    from chaosrun.run import early

    collector.pause()  # until the engine starts: see chaosrun.commands.collector
    # Inject's playbook starts once the experiment is read, beside the planning.
    begun = early.Starter(root, inventory)
    try:
        p = _load_plan(experiment, inventory, overrides or [], seed, "run", on_read=begun)
        for text in p.report.deprecations:  # so scheduled runs' logs say it too
            warn(text)
        p.allow_irreversible = allow_irreversible
        if begun.started is not None:  # preflight's hosts asked while the engine loads
            from chaosrun.run import preflight

            preflight.ask_ahead(p, begun.started)
        from chaosrun.run.progress import make_progress  # after the early starts: rich's tables

        target = err_console if as_json else console
        progress = make_progress(target, p.redactor, live=not as_json)
        try:
            go = _starter(p, root, progress, begun.started)
        except BaseException:
            progress.close()
            raise
    except BaseException:
        begun.discard()  # refused or failed before any engine: nothing of it stays
        raise
    finally:
        collector.settle()
    try:
        outcome = go()
    finally:
        progress.close()
    from chaosrun.modes import slots

    slots.note(outcome, p.redactor)  # a scheduled slot's run id and reason, if any
    with last_words():
        if as_json:
            emit_json(outcome_json(outcome, p.redactor))
        else:
            info(f"journal: {outcome.journal}")
    exit_with(outcome, p.redactor, progress_on_stderr=as_json)


def _load_plan(
    experiment: Path,
    inventory: Path | None,
    overrides: list[str],
    seed: int | None,
    command: str,
    on_read: Callable[[Experiment, Config], None] | None = None,
) -> Plan:
    """The plan of `command` (`plan` or `run`); a run's refusal and either's loosening
    override are audited here, before any run directory is kept. `on_read`: see
    chaosrun.plan.planning.load_plan."""
    from chaosrun.base.errors import Loosened
    from chaosrun.model import audit, config
    from chaosrun.plan.planning import load_plan

    try:
        return load_plan(experiment, inventory, overrides, seed, on_read)
    except Loosened as exc:
        _audit_loosened(config.load().audit_path, command, exc)
        raise
    except Refused as exc:
        if command != "run":
            raise
        audit.record(
            config.load().audit_path,
            "refused",
            "refused",
            experiment=str(experiment),
            reason=str(exc),
        )
        raise


def _audit_loosened(path: Path, command: str, exc: Loosened) -> None:
    """Who tried to widen what: the loosening override's audit line (never in its way)."""
    from chaosrun.model import tighten_audit

    try:
        tighten_audit.record(path, command, exc)
    except OSError as err:
        warn(f"audit log not written: {err}")


def _starter(
    plan: Plan, root: Path, progress: Progress, started: Started | None = None
) -> Callable[[], Outcome]:
    """What runs the plan (the ramp, or one engine made ready, taking what `started`
    began before the plan: chaosrun.run.early), to be called once."""
    if plan.experiment.targets.ramp:
        from chaosrun.modes import ramp

        return functools.partial(ramp.run_plan, plan, root, progress)
    from chaosrun.run.engine import Engine

    return Engine(plan, root, progress, started=started).run


__all__ = ["ChaosrunError", "register"]
