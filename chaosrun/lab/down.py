"""`chaosrun lab down`: remove every container, network, process and file the lab made."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import (
    controller,
    hosts,
    inventory,
    network,
    preflight,
    processes,
    provision,
    state,
)
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig


@dataclass
class DownResult:
    containers: list[str] = field(default_factory=list)
    network: bool = False
    processes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return bool(self.containers or self.network or self.processes or self.files)


def down(lab: LabConfig, missing_ok: bool = False) -> DownResult:
    """Tear the lab down. Raises if there was nothing to remove, unless missing_ok."""
    preflight.require_root()
    preflight.require_tools(("podman",))
    paths = LabPaths.of(lab)
    result = DownResult()
    with state.locked(lab):
        containers = hosts.list_containers(lab)
        hosts.remove(c.name for c in containers)
        result.containers = sorted(c.host for c in containers)
        result.network = network.remove(lab)
        result.processes = controller.stop_all(paths)
        for pid in provision.orphans(inventory.inventory_path(lab)):
            processes.terminate(pid)
            result.processes.append(f"deployment pid {pid}")
        if paths.root.exists():
            shutil.rmtree(paths.root)
            result.files.append(str(paths.root))
        inv = inventory.inventory_path(lab)
        if inv.is_file():
            inv.unlink()
            result.files.append(str(inv))
            if not any(inv.parent.iterdir()):
                inv.parent.rmdir()
    if not result.anything and not missing_ok:
        raise ChaosrunError(f"lab {lab.name!r} is already down (nothing to remove)")
    return result
