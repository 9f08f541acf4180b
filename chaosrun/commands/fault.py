"""`chaosrun new fault NAME`: scaffold a fault role that obeys the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chaosrun.base.output import console

app = typer.Typer(help="Scaffold new project parts.", no_args_is_help=True)


@app.command("fault")
def new_fault(
    name: Annotated[str, typer.Argument(help="Role name: lowercase letters, digits, '_'.")],
    project: Annotated[
        Path | None,
        typer.Option(
            help="chaosrun project directory (default: this checkout).", envvar="CHAOSRUN_PROJECT"
        ),
    ] = None,
) -> None:
    """Scaffold chaosrun.chaos.NAME (inject/verify/rollback, specs, revert script, dead-man,
    README) and its molecule scenario; both pass lint and molecule as generated."""
    from chaosrun.base.paths import project_root
    from chaosrun.ops import scaffold

    root = (project or project_root()).resolve()
    made = scaffold.new_fault(root, name)
    for path in made.files:
        console.print(f"created {path.relative_to(root)}", soft_wrap=True)
    console.print(
        f"next: edit {made.role_dir.relative_to(root)}/templates/ (apply-fault.sh.j2, "
        "revert.sh.j2, read.sh.j2) and vars/main.yml, "
        f"then run scripts/molecule.sh {name}",
        soft_wrap=True,
    )
