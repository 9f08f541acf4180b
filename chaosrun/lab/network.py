"""The lab's podman network: one bridge on the lab subnet, named after the lab."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Any

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import podman
from chaosrun.lab.topology import LabConfig

LABEL = "chaosrun.lab"


def inspect(name: str) -> dict[str, Any] | None:
    proc = podman.run(["network", "inspect", name], check=False)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or "[]")
    return data[0] if data else None


def subnets(info: dict[str, Any]) -> list[str]:
    return [s.get("subnet", "") for s in info.get("subnets") or []]


def matches(info: dict[str, Any], lab: LabConfig) -> bool:
    return subnets(info) == [lab.subnet]


def conflicts(lab: LabConfig) -> str | None:
    """Name what already uses the lab subnet (another podman network or a host route)."""
    want = ipaddress.ip_network(lab.subnet)
    names = podman.run(["network", "ls", "--format", "{{.Name}}"]).stdout.split()
    for name in names:
        if name == lab.network:
            continue
        info = inspect(name) or {}
        for subnet in subnets(info):
            if subnet and ipaddress.ip_network(subnet, strict=False).overlaps(want):
                return f"podman network {name} ({subnet})"
    ours = (inspect(lab.network) or {}).get("network_interface")
    for route in _routes():
        dev, dst = route.get("dev"), route.get("dst", "")
        if dev == ours or dst in ("default", "") or "/" not in dst:
            continue
        if ipaddress.ip_network(dst, strict=False).overlaps(want):
            return f"route {dst} on interface {dev}"
    return None


def _routes() -> list[dict[str, Any]]:
    try:
        out = subprocess.run(["ip", "-j", "route"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return json.loads(out.stdout or "[]")


def ensure(lab: LabConfig) -> bool:
    """Create the network if missing (replacing one on another subnet; its hosts must be gone).
    Returns True if it was created."""
    info = inspect(lab.network)
    if info is not None and matches(info, lab):
        return False
    if info is not None:  # a stale network of this lab name on another subnet
        podman.run(["network", "rm", "-f", lab.network])
    clash = conflicts(lab)
    if clash:
        raise ChaosrunError(
            f"subnet {lab.subnet} is already in use by {clash}; "
            "choose another with --subnet or CHAOSRUN_LAB_SUBNET"
        )
    podman.run(
        [
            "network",
            "create",
            "--subnet",
            lab.subnet,
            "--gateway",
            lab.gateway,
            "--disable-dns",
            "--label",
            f"{LABEL}={lab.name}",
            lab.network,
        ]
    )
    return True


def remove(lab: LabConfig) -> bool:
    if inspect(lab.network) is None:
        return False
    podman.run(["network", "rm", "-f", lab.network])
    return True
