"""`chaosrun validate|plan|run`: check, preview and execute experiments."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the experiment commands to the root app."""
