"""`chaosrun lab up`: make the lab exist and be healthy, changing only what is missing or stale."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chaosrun.lab import hosts, image, inventory, keys, network, preflight, state
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

Progress = Callable[[str], None]


@dataclass
class UpResult:
    inventory: Path
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    provisioned: bool = False
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.removed or self.started or self.provisioned)


def up(lab: LabConfig, progress: Progress = lambda _m: None) -> UpResult:
    """Bring the lab up (idempotent) and return what had to change."""
    begin = time.monotonic()
    preflight.require_root()
    preflight.validate(lab)
    preflight.require_tools(("podman", "ssh", "ssh-keygen", "ip"))
    paths = LabPaths.of(lab)
    with state.locked(lab):
        ref = image.ensure_image(progress)
        keys.ensure_key(paths)
        result = UpResult(inventory=inventory.inventory_path(lab))
        _reconcile_hosts(lab, ref, paths, result, progress)
        result.inventory = inventory.write(lab, paths)
        record = state.load_state(paths)
        record.update(
            name=lab.name, subnet=lab.subnet, port_base=lab.port_base,
            order_hosts=lab.order_hosts, image=ref, inventory=str(result.inventory),
        )  # fmt: skip
        state.save_state(paths, record)
    result.seconds = time.monotonic() - begin
    return result


def _reconcile_hosts(
    lab: LabConfig, ref: str, paths: LabPaths, result: UpResult, progress: Progress
) -> None:
    """Remove stale containers, create missing ones, wait until every host answers SSH."""
    wanted = {h.name: h for h in lab.hosts()}
    existing = {c.name: c for c in hosts.list_containers(lab)}
    info = network.inspect(lab.network)
    network_ok = info is not None and network.matches(info, lab)
    key = hosts.key_id(paths)
    current = {
        h.name
        for h in wanted.values()
        if network_ok
        and lab.container(h.name) in existing
        and hosts.is_current(existing[lab.container(h.name)], h, lab, ref, key)
    }
    stale = [c for c in existing.values() if c.host not in current]
    if stale:
        progress(f"removing {len(stale)} stale container(s)")
        hosts.remove(c.name for c in stale)
        result.removed = sorted(c.host for c in stale)
    if network.ensure(lab):
        progress(f"created network {lab.network} on {lab.subnet}")
    missing = [h for h in wanted.values() if h.name not in current]
    if missing:
        progress(f"starting {len(missing)} host(s): {', '.join(h.name for h in missing)}")
        hosts.parallel(lambda h: hosts.create(lab, h, ref, paths), missing)
        result.created = [h.name for h in missing]
    hosts.parallel(lambda h: hosts.wait_ssh(paths, h), list(wanted.values()))
    if missing:
        progress(f"{len(wanted)} host(s) answer over SSH")
