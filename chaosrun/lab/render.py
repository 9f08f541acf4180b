"""Rendering `lab status` for a terminal (rich tables)."""

from __future__ import annotations

from rich.table import Table

from chaosrun.base.output import console
from chaosrun.lab.status import Status

MARK = {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "[yellow]unknown[/]"}


def print_status(status: Status) -> None:
    lab = status.lab
    if not status.exists:
        console.print(f"lab {lab.name!r} is down (run `chaosrun lab up`)")
        return
    verdict = "[green]healthy[/]" if status.healthy else "[red]unhealthy[/]"
    console.print(f"lab [bold]{lab.name}[/] on {lab.subnet}: {verdict}")
    hosts = Table("host", "address", "zone", "groups", "container", "systemd", box=None)
    for h in status.snapshot.hosts:
        hosts.add_row(
            h["name"], h["address"], h["zone"], ",".join(h["groups"]), h["state"], h["systemd"]
        )
    console.print(hosts)
    procs = Table("process", "pid", "listen", "state", box=None)
    for p in status.snapshot.processes:
        procs.add_row(
            p["name"],
            str(p["pid"] or "-"),
            f"127.0.0.1:{p['port']}",
            "running" if p["running"] else "[red]stopped[/]",
        )
    console.print(procs)
    checks = Table("check", "result", "detail", box=None)
    for check in status.checks:
        if check.group == "hosts" and check.ok:
            continue  # the hosts table already says so
        checks.add_row(check.name, MARK[check.ok], check.detail)
    console.print(checks)
    access = status.to_dict()["access"]
    console.print(
        f"Prometheus {lab.prometheus_url}, Alertmanager {lab.alertmanager_url}: "
        f"CA {access['ca_file']}, user {access['basic_auth']['username']}, "
        f"password in {access['basic_auth']['password_file']}"
    )
