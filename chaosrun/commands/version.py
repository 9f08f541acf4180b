"""`chaosrun --version`: the version and which copy of the collection runs."""

from __future__ import annotations

import typer

from chaosrun import __version__


def show(value: bool) -> None:
    """`chaosrun --version`: this chaosrun and which copy of the collection runs, then exit."""
    if value:
        from chaosrun.hosts import collection

        typer.echo(f"chaosrun {__version__}")
        found = collection.find()
        if found is None:
            typer.echo(f"{collection.FQCN}: not found")
        else:
            old = found.too_old()
            note = f" (too old: this chaosrun needs {collection.REQUIRED})" if old else ""
            typer.echo(f"collection {found.describe()}{note}")
        raise typer.Exit()
