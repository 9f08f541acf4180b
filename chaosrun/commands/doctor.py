"""`chaosrun doctor`: check the controller and, with an inventory, every host."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chaosrun.base.output import console, emit_json, error, info
from chaosrun.commands.options import JsonOpt


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    inventory: Annotated[
        Path | None,
        typer.Option(
            "-i",
            "--inventory",
            envvar="CHAOSRUN_INVENTORY",
            help="Also check every host of this inventory.",
        ),
    ] = None,
    limit: Annotated[
        str,
        typer.Option("-l", "--limit", help="Only hosts matching this Ansible host pattern."),
    ] = "all",
    as_json: JsonOpt = False,
) -> None:
    """Check what chaosrun needs: Ansible, the collection, ssh, Prometheus and, with -i,
    each host (sudo, python3, systemd, systemd-run, iptables/nft, tc, the state directory).
    One line per problem with its fix; exit 0 only when everything holds."""
    from chaosrun.ops import doctor as checks_of

    found = checks_of.diagnose(inventory, limit=limit)
    problems = [c for c in found if not c.ok]
    if as_json:
        emit_json(checks_of.as_json(found))
    else:
        for check in found:
            if check.ok:
                console.print(check.line(), soft_wrap=True, markup=False)
        for check in problems:
            error(check.line())
        info(checks_of.summary(found, hosts_checked=inventory is not None))
    if problems:
        raise typer.Exit(1)
