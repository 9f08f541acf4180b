"""The lab's Ansible inventory (YAML, extensionless `hosts` so AWX suggests it)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from chaosrun.base.paths import lab_root
from chaosrun.lab import bastion, keys, webauth
from chaosrun.lab.image import ACCESS_USER
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

HEADER = "# Written by `chaosrun lab up` for lab {name!r}; rewritten on every `lab up`.\n"
# Groups whose members carry the host variables; the others only list members.
FUNCTIONAL = ("order_service", "payment_service", "lb", "db")
MEMBERSHIP = ("db_primary", "db_replica", "zone_a", "zone_b")


def inventory_path(lab: LabConfig, root: Path | None = None) -> Path:
    return (root or lab_root()) / "inventories" / lab.name / "hosts"


def group_vars(lab: LabConfig, paths: LabPaths) -> dict[str, Any]:
    # As on a production fleet: an unprivileged user with sudo, host keys checked against
    # the known_hosts `lab up` writes from the hosts' own keys.
    return {
        "ansible_user": ACCESS_USER,
        "ansible_become": True,
        "ansible_ssh_private_key_file": str(paths.key),
        # A bastion lab's hosts are reached only through it (ProxyJump; see lab.bastion).
        "ansible_ssh_common_args": shlex.join(
            [*keys.ssh_options(paths), *bastion.jump_options(lab, paths)]
        ),
        "ansible_python_interpreter": "/usr/bin/python3",
        "lab_name": lab.name,
        "lab_subnet": lab.subnet,
        "lab_gateway": lab.gateway,
        "lab_prometheus_url": lab.prometheus_url,
        # HTTPS with basic auth: the CA and password files, as chaosrun.yml would name them.
        "lab_prometheus_access": webauth.access_block(paths),
        "lab_alertmanager_url": lab.alertmanager_url,
        "lab_alertmanager_access": webauth.access_block(paths),
        "lab_webhook_url": f"http://127.0.0.1:{lab.webhook_port}",
        "lab_traffic_url": f"http://127.0.0.1:{lab.traffic_port}",
    }


def build(lab: LabConfig, paths: LabPaths) -> dict[str, Any]:
    """The inventory as data: every group of the interface, all under `lab`."""
    groups: dict[str, dict[str, Any]] = {g: {} for g in (*FUNCTIONAL, *MEMBERSHIP)}
    for host in lab.hosts():
        for group in (*host.groups, host.zone):
            if group in FUNCTIONAL:
                groups[group][host.name] = {"ansible_host": host.address, "zone": host.zone}
            elif group in groups:
                groups[group][host.name] = None
    children: dict[str, Any] = {
        "app": {"children": {g: {"hosts": groups[g]} for g in ("order_service", "payment_service")}}
    }
    for group in ("lb", "db", *MEMBERSHIP):
        children[group] = {"hosts": groups[group]}
    jump = lab.bastion_host
    if jump is not None:  # itself reached directly
        direct = shlex.join(keys.ssh_options(paths))
        children["bastion"] = {
            "hosts": {jump.name: {"ansible_host": jump.address, "ansible_ssh_common_args": direct}}
        }
    return {"all": {"children": {"lab": {"vars": group_vars(lab, paths), "children": children}}}}


def render(lab: LabConfig, paths: LabPaths) -> str:
    body = yaml.safe_dump(build(lab, paths), sort_keys=False, default_flow_style=False)
    return HEADER.format(name=lab.name) + body.replace(": null\n", ":\n")


def write(lab: LabConfig, paths: LabPaths, root: Path | None = None) -> Path:
    """Write the inventory only when its text changes, so `lab up` twice touches nothing."""
    path = inventory_path(lab, root)
    text = render(lab, paths)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path
