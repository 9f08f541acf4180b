"""`chaosrun lab up|down|status|ssh`: the embedded lab fleet."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from chaosrun.base.errors import ChaosrunError
from chaosrun.base.output import emit_json, info
from chaosrun.commands.options import JsonOpt
from chaosrun.lab.topology import LabConfig

app = typer.Typer(
    help="The embedded lab fleet: systemd hosts, services, Prometheus.", no_args_is_help=True
)

NameOpt = Annotated[
    str | None,
    typer.Option("--name", envvar="CHAOSRUN_LAB_NAME", help="Lab name (several labs can coexist)."),
]
SubnetOpt = Annotated[
    str | None,
    typer.Option("--subnet", envvar="CHAOSRUN_LAB_SUBNET", help="Private IPv4 subnet of the lab."),
]
PortBaseOpt = Annotated[
    int | None,
    typer.Option(
        "--port-base",
        envvar="CHAOSRUN_LAB_PORT_BASE",
        help="First of the loopback ports (Prometheus; Alertmanager +3, webhook +4, traffic +5).",
    ),
]
HostsOpt = Annotated[
    int | None,
    typer.Option("--hosts", envvar="CHAOSRUN_LAB_HOSTS", help="Number of order-service hosts."),
]


def _progress(message: str) -> None:
    info(escape(message))  # task names like "[role : Do it]" are not rich markup


def _config(
    name: str | None,
    subnet: str | None,
    port_base: int | None,
    hosts: int | None,
    bastion: bool | None = None,
) -> LabConfig:
    from chaosrun.lab.state import resolve

    return resolve(
        name=name, subnet=subnet, port_base=port_base, order_hosts=hosts, bastion=bastion
    )


@app.command()
def up(
    name: NameOpt = None,
    subnet: SubnetOpt = None,
    port_base: PortBaseOpt = None,
    hosts: HostsOpt = None,
    provision: Annotated[
        bool | None,
        typer.Option(
            "--provision/--no-provision",
            help="Run playbooks/lab/site.yml always / never (default: when hosts or playbooks "
            "changed).",
            show_default=False,
        ),
    ] = None,
    wait_timeout: Annotated[
        float,
        typer.Option("--wait-timeout", help="Seconds to wait for every Prometheus target up."),
    ] = 180.0,
    bastion: Annotated[
        bool | None,
        typer.Option(
            "--bastion/--no-bastion",
            help="Add a bastion host; the others take SSH only through it (ProxyJump). "
            "Default: as the lab was.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Bring the lab up (build the image the first time); a second run changes nothing."""
    from chaosrun.lab import up as lab_up

    lab = _config(name, subnet, port_base, hosts, bastion)
    result = lab_up.up(lab, progress=_progress, provision_mode=provision, wait_timeout=wait_timeout)
    verdict = "up" if result.changed else "already up"
    info(f"lab {lab.name!r} {verdict} in {result.seconds:.1f}s; inventory: {result.inventory}")


@app.command()
def down(
    name: NameOpt = None,
    subnet: SubnetOpt = None,
    port_base: PortBaseOpt = None,
) -> None:
    """Remove every container, network, process and file of the lab."""
    from chaosrun.lab import down as lab_down

    lab = _config(name, subnet, port_base, None)
    result = lab_down.down(lab)
    info(
        f"lab {lab.name!r} down: removed {len(result.containers)} container(s), "
        f"{'the network, ' if result.network else ''}{len(result.processes)} process(es)"
    )


@app.command()
def status(
    name: NameOpt = None,
    subnet: SubnetOpt = None,
    port_base: PortBaseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show hosts, controller processes, Prometheus targets and health; exit 1 if unhealthy."""
    from chaosrun.lab import status as lab_status
    from chaosrun.lab.render import print_status

    lab = _config(name, subnet, port_base, None)
    result = lab_status.gather(lab)
    if as_json:
        emit_json(result.to_dict())
    else:
        print_status(result)
    if not result.healthy:
        raise typer.Exit(1)


@app.command()
def ssh(
    host: Annotated[str, typer.Argument(help="Lab host name, e.g. order-1.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="Command to run instead of a login shell.")
    ] = None,
    name: NameOpt = None,
    subnet: SubnetOpt = None,
) -> None:
    """Open an SSH session (or run a command) on a lab host as its `chaos` user (sudo for root)."""
    from chaosrun.lab.bastion import jump_options
    from chaosrun.lab.keys import ssh_argv
    from chaosrun.lab.state import LabPaths

    lab = _config(name, subnet, None, None)
    paths = LabPaths.of(lab)
    address = _address(lab, host)
    if not paths.key.is_file():
        raise ChaosrunError(f"lab {lab.name!r} is not up (no key at {paths.key}); run `lab up`")
    jump = () if host == "bastion-1" else jump_options(lab, paths)
    argv = ssh_argv(paths, address, jump)
    if not command:
        argv.insert(1, "-t")
    os.execvp(argv[0], [*argv, *(command or [])])


def _address(lab: LabConfig, host: str) -> str:
    from chaosrun.lab.hosts import list_containers

    for container in list_containers(lab):
        if container.host == host and container.address:
            return container.address
    known = sorted(c.host for c in list_containers(lab))
    if not known:
        raise ChaosrunError(f"lab {lab.name!r} is not up; run `chaosrun lab up`")
    raise ChaosrunError(f"no host {host!r} in lab {lab.name!r}; hosts: {', '.join(known)}")
