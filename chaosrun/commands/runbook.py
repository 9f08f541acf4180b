"""`chaosrun runbook check|compile` and `chaosrun drill`: runbooks as playbooks, drilled."""

from __future__ import annotations

import os
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show what the drill would do, and its limit; touch nothing."
        ),
    ] = False,
) -> None:
    """Drill a runbook: inject its fault, run its steps instead of the automatic rollback,
    time every step. The fault stays on no longer than the runbook's `duration`, else
    chaosrun.yml's max_duration: past it the drill is rolled back and ends timed out (exit 3).
    Exit 0 passed; 1 a step failed or the system did not recover (the fault was rolled
    back automatically); 2 invalid input; 3 aborted or timed out; 4 refused; 5 rollback
    failed."""
    from chaosrun.run.progress import make_progress
    from chaosrun.runbook.drill import DrillEngine
    from chaosrun.runbook.drill import auto_ack as ack_all
    from chaosrun.runbook.plan import drill_plan

    use_vault(vault_id, vault_password_file)
    root = use_runs_dir(runs_dir)
    book, plan = drill_plan(project_file(runbook, "runbooks"), inventory, seed)
    if dry_run:
        _show_plan(book, plan, as_json)
        return
    progress = make_progress(err_console if as_json else console, plan.redactor, live=False)

    def prompt(step) -> tuple[bool, str]:
        # With --json, stdout is the summary's alone: the prompt goes to stderr.
        out = err_console if as_json else console
        out.print(f"[bold]Step {step.number}: {step.title}[/] (manual)\n{step.text}")
        while True:
            out.print("Done? [Y/n]: ", end="")
            answer = _answer()
            if answer is None:
                return False, "no operator: standard input is closed"
            if answer in ("", "y", "yes"):
                return True, "acknowledged by the operator"
            if answer in ("n", "no"):
                return False, "the operator said not done"

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


def _answer() -> str | None:
    """One line the operator typed (lower case, trimmed), None at the end of input. Read
    from the descriptor, not sys.stdin: a drill past its limit leaves the prompt's thread
    waiting here, and one blocked inside sys.stdin's buffer would hold its lock when the
    interpreter exits, which aborts it (a fatal error, not the drill's exit code)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(0, 1)  # one at a time: what follows the line stays for the next step
        if not byte:
            if not line:
                return None
            break
        line += byte
    return line.decode(errors="replace").strip().lower()


def _show_plan(book, plan, as_json: bool) -> None:
    """What `drill --dry-run` prints: the targets, the fault, its lease and its limit."""
    from chaosrun.model import fault_time
    from chaosrun.runbook.plan import drill_limit

    limit = drill_limit(book, plan)
    doc = {
        "runbook": {"title": book.title, "file": str(book.file), "steps": len(book.steps)},
        "inventory": str(plan.inventory.path),
        "targets": {"pattern": plan.selection.pattern, "selected": plan.selection.selected},
        "fault": {
            "role": plan.experiment.fault.role,
            "vars": plan.public_vars(),
            "ttl_s": fault_time.arm_ttl(plan.ttl, limit),
        },
        "limit": limit.as_dict(),
    }
    if as_json:
        emit_json(plan.redactor.data(doc))
        return
    kinds = ", ".join(f"{s.number} {s.kind}" for s in book.steps)
    lines = [
        f"[bold]{book.title}[/] ({book.file}): {len(book.steps)} steps ({kinds})",
        f"inventory: {doc['inventory']}",
        f"targets: {plan.selection.pattern!r}, selected: {', '.join(plan.selection.selected)}",
        f"fault: {plan.experiment.fault.role}, vars: {doc['fault']['vars']}",
        f"  on-host lease: {doc['fault']['ttl_s']}s (renewed while the drill lives, "
        "never past the limit)",
        f"limit: the fault stays on at most {limit.text()}; then it is rolled back and the "
        "drill ends timed out (exit 3)",
    ]
    for line in lines:
        console.print(plan.redactor.text(line), soft_wrap=True)
