"""`chaosrun init [DIR]`: make a directory (an ops repository) a chaosrun project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chaosrun.base.output import console


def init(
    directory: Annotated[
        Path, typer.Argument(help="The project directory (default: the working directory).")
    ] = Path("."),
) -> None:
    """Write chaosrun.yml, an example experiment and runbook and a .gitignore for the runs
    directory; refuses to overwrite any file."""
    from chaosrun.ops.scaffold_project import init as scaffold

    root = directory.resolve()
    for path in scaffold(root):
        console.print(f"created {path.relative_to(root)}", soft_wrap=True)
    console.print(
        "next: set `inventory` and `prometheus.url` in chaosrun.yml, then "
        "`chaosrun plan experiments/one-busy-core.yml`",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
