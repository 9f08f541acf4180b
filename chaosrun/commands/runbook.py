"""`chaosrun runbook check|compile` and `chaosrun drill`: runbooks as playbooks, drilled."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chaosrun.base.output import (
    console,
    emit_json,
    err_console,
    error,
    info,
    warn,
    write_out,
)
from chaosrun.commands.options import (
    InventoryOpt,
    JsonOpt,
    RunsDirOpt,
    SeedOpt,
    VaultFileOpt,
    VaultIdOpt,
    project_file,
    use_runs_dir,
    use_vault,
)
from chaosrun.commands.outcome import exit_with, last_words, outcome_json

app = typer.Typer(no_args_is_help=True, help="Check runbooks and compile them to playbooks.")

RunbookArg = Annotated[Path, typer.Argument(help="Runbook (Markdown).")]


def register(root: typer.Typer) -> None:
    """Add `runbook check|compile` and `drill` to the root app."""
    root.add_typer(app, name="runbook")
    root.command("drill")(drill)


@app.command("check")
def check(
    runbooks: Annotated[list[Path], typer.Argument(help="Runbooks to check.")],
) -> None:
    """Validate runbooks: structure, step blocks and front matter; errors name the line."""
    from chaosrun.base.errors import InvalidInput
    from chaosrun.runbook.check import check_file, warnings

    failed = 0
    for path in runbooks:
        try:
            book, experiment = check_file(path)
        except InvalidInput as exc:
            failed += 1
            for line in str(exc).splitlines():
                error(line)
            continue
        for text in warnings(book):
            warn(text)
        kinds = ", ".join(f"step {s.number} {s.kind}" for s in book.steps)
        fault = f"drills {experiment.fault.role}" if experiment else "no fault: compile only"
        console.print(f"[green]ok[/] {path}: {len(book.steps)} steps ({kinds}); {fault}")
    if failed:
        raise typer.Exit(InvalidInput.exit_code)


@app.command("compile")
def compile_(
    runbook: RunbookArg,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the playbook here (default stdout)."),
    ] = None,
) -> None:
    """Compile a runbook to a playbook: one play per step; run it with ansible-playbook or AWX."""
    from chaosrun.runbook import compile as compiler
    from chaosrun.runbook.check import check_file

    book, _ = check_file(runbook)
    text = compiler.dump(book)
    if output is None:
        write_out(text)
        return
    output.write_text(text, encoding="utf-8")
    info(f"wrote {output} ({len(book.steps)} plays)")


def drill(
    runbook: RunbookArg,
    inventory: InventoryOpt = None,
    auto_ack: Annotated[
        bool, typer.Option("--auto-ack", help="Acknowledge manual steps without a prompt.")
    ] = False,
    seed: SeedOpt = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
    vault_id: VaultIdOpt = None,
    vault_password_file: VaultFileOpt = None,
) -> None:
    """Drill a runbook: inject its fault, run its steps instead of the automatic rollback,
    time every step. Exit 0 passed; 1 a step failed or the system did not recover (the
    fault was rolled back automatically); 3 aborted; 4 refused; 5 rollback failed."""
    from chaosrun.run.progress import make_progress
    from chaosrun.runbook.drill import DrillEngine
    from chaosrun.runbook.drill import auto_ack as ack_all
    from chaosrun.runbook.plan import drill_plan

    use_vault(vault_id, vault_password_file)
    root = use_runs_dir(runs_dir)
    book, plan = drill_plan(project_file(runbook, "runbooks"), inventory, seed)
    progress = make_progress(err_console if as_json else console, plan.redactor, live=False)

    def prompt(step) -> tuple[bool, str]:
        console.print(f"[bold]Step {step.number}: {step.title}[/] (manual)\n{step.text}")
        done = typer.confirm("Done?", default=True)
        return done, "acknowledged by the operator" if done else "the operator said not done"

    try:
        engine = DrillEngine(plan, root, progress, book, ack_all if auto_ack else prompt)
        outcome = engine.run()
    finally:
        progress.close()
    with last_words():
        if as_json:
            failed_step = engine.failed_step.number if engine.failed_step else None
            emit_json(outcome_json(outcome, plan.redactor, failed_step=failed_step))
        else:
            for step in engine.journal.get("steps") or []:
                console.print(
                    f"  {step['number']}. {step['name']}: {step['outcome']} "
                    f"in {step['duration_s']:.1f}s"
                )
            info(f"journal: {outcome.journal}")
    exit_with(outcome, plan.redactor, progress_on_stderr=as_json)
