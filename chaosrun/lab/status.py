"""`chaosrun lab status`: what runs (hosts, controller processes, Prometheus targets) and
whether each registered health check passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaosrun.lab import controller, health, hosts, network, preflight, prometheus, webauth
from chaosrun.lab.health import Check, Snapshot
from chaosrun.lab.inventory import inventory_path
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig


@dataclass
class Status:
    lab: LabConfig
    network: bool
    snapshot: Snapshot
    checks: list[Check] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return (
            self.network
            or bool(self.snapshot.hosts)
            or any(p["running"] for p in self.snapshot.processes)
        )

    @property
    def healthy(self) -> bool:
        return self.exists and all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        lab = self.lab
        return {
            "name": lab.name,
            "subnet": lab.subnet,
            "up": self.exists,
            "healthy": self.healthy,
            "network": lab.network if self.network else None,
            "inventory": str(inventory_path(lab)),
            "urls": {
                "prometheus": lab.prometheus_url,
                "alertmanager": lab.alertmanager_url,
                "webhook": f"http://127.0.0.1:{lab.webhook_port}",
                "traffic": f"http://127.0.0.1:{lab.traffic_port}",
            },
            "access": webauth.access_block(LabPaths.of(lab)),
            "hosts": self.snapshot.hosts,
            "processes": self.snapshot.processes,
            "targets": self.snapshot.targets,
            "checks": [c.to_dict() for c in self.checks],
        }


def gather_hosts(lab: LabConfig) -> list[dict[str, Any]]:
    containers = hosts.list_containers(lab)
    zones = {h.name: (h.zone, h.groups) for h in lab.hosts()}
    states: dict[str, str] = {}

    def probe(c: hosts.Container) -> None:
        states[c.host] = hosts.system_state(lab, c.host, timeout=10) if c.running else "-"

    hosts.run_parallel(probe, containers)
    rows = []
    for c in sorted(containers, key=lambda c: _host_order(lab, c.host)):
        zone, groups = zones.get(c.host, ("", ()))
        rows.append(
            {
                "name": c.host,
                "container": c.name,
                "address": c.address,
                "zone": zone,
                "groups": list(groups),
                "state": c.state,
                "systemd": states.get(c.host, "-"),
            }
        )
    return rows


def _host_order(lab: LabConfig, name: str) -> int:
    names = [h.name for h in lab.hosts()]
    return names.index(name) if name in names else len(names)


def gather(lab: LabConfig) -> Status:
    preflight.require_root()
    preflight.require_tools(("podman",))
    paths = LabPaths.of(lab)
    snap = Snapshot(hosts=gather_hosts(lab), processes=controller.status(lab, paths))
    try:
        snap.targets = prometheus.targets(lab)
    except (OSError, ValueError, KeyError):
        snap.targets = None
    result = Status(lab, network.inspect(lab.network) is not None, snap)
    if result.exists:
        result.checks = health.run_all(lab, snap)
    return result
