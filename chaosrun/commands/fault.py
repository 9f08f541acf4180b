"""`chaosrun new fault NAME`: scaffold a fault role that obeys the contract."""

from __future__ import annotations

import typer

app = typer.Typer(help="Scaffold new project parts.", no_args_is_help=True)
