"""`chaosrun lab up|down|status|ssh`: the embedded lab fleet."""

from __future__ import annotations

import typer

app = typer.Typer(help="The embedded lab fleet: systemd hosts, services, Prometheus.", no_args_is_help=True)
