"""`chaosrun --version`: the version and which copy of the collection runs."""

from __future__ import annotations

import typer

from chaosrun import __version__
from chaosrun.base.output import write_out


def show(value: bool) -> None:
    """`chaosrun --version`: this chaosrun and which copy of the collection runs, then exit."""
    if value:
        from chaosrun.hosts import collection

        write_out(f"chaosrun {__version__}\n")
        found = collection.find()
        if found is None:
            write_out(f"{collection.FQCN}: not found\n")
        else:
            old = found.too_old()
            note = f" (too old: this chaosrun needs {collection.REQUIRED})" if old else ""
            write_out(f"collection {found.describe()}{note}\n")
        raise typer.Exit()
