"""The shape of the lab: hosts, groups, zones, addresses and ports.

Everything that builds or talks to the lab (podman hosts, the inventory, the service
playbooks, Prometheus targets, tests) reads these values from here, so the lab has one
definition.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

DEFAULT_NAME = "lab"
DEFAULT_SUBNET = "10.213.0.0/24"
DEFAULT_PORT_BASE = 19090
DEFAULT_ORDER_HOSTS = 3

# Ports on every host / on the load balancer.
APP_PORT = 8000  # order and payment services
NODE_EXPORTER_PORT = 9100
POSTGRES_PORT = 5432
POSTGRES_EXPORTER_PORT = 9187
LB_ORDER_PORT = 8080  # HAProxy frontend for the order service
LB_PAYMENT_PORT = 8081  # HAProxy frontend for the payment service
LB_STATS_PORT = 8404  # HAProxy stats page and Prometheus exporter (/metrics)


@dataclass(frozen=True)
class Host:
    name: str
    groups: tuple[str, ...]
    zone: str
    address: str


@dataclass(frozen=True)
class LabConfig:
    """Where a lab lives. Several labs with different names can run side by side."""

    name: str = DEFAULT_NAME
    subnet: str = DEFAULT_SUBNET
    port_base: int = DEFAULT_PORT_BASE
    order_hosts: int = DEFAULT_ORDER_HOSTS
    extra: dict[str, str] = field(default_factory=dict)
    bastion: bool = False  # `lab up --bastion`: SSH to the hosts only through bastion-1

    @classmethod
    def from_env(cls, **overrides: object) -> LabConfig:
        """Defaults, then CHAOSRUN_LAB_* environment variables, then explicit overrides."""
        values: dict[str, object] = {
            "name": os.environ.get("CHAOSRUN_LAB_NAME", DEFAULT_NAME),
            "subnet": os.environ.get("CHAOSRUN_LAB_SUBNET", DEFAULT_SUBNET),
            "port_base": int(os.environ.get("CHAOSRUN_LAB_PORT_BASE", DEFAULT_PORT_BASE)),
            "order_hosts": int(os.environ.get("CHAOSRUN_LAB_HOSTS", DEFAULT_ORDER_HOSTS)),
            "bastion": os.environ.get("CHAOSRUN_LAB_BASTION", "") == "1",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    # Controller-side services, all bound to loopback.
    @property
    def prometheus_port(self) -> int:
        return self.port_base

    @property
    def alertmanager_port(self) -> int:
        return self.port_base + 3

    @property
    def webhook_port(self) -> int:
        return self.port_base + 4

    @property
    def traffic_port(self) -> int:
        return self.port_base + 5

    # Prometheus and Alertmanager serve HTTPS with basic auth (chaosrun.lab.webauth).
    @property
    def prometheus_url(self) -> str:
        return f"https://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"https://127.0.0.1:{self.alertmanager_port}"

    @property
    def network(self) -> str:
        return f"chaosrun-{self.name}"

    def container(self, host: str) -> str:
        return f"chaosrun-{self.name}-{host}"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    def hosts(self) -> list[Host]:
        """Every lab host. Zone b holds the load balancer and the database primary, so an
        outage of zone a is survivable without failover (zone a holds the replica)."""
        net = ipaddress.ip_network(self.subnet)
        fixed = [
            Host("lb-1", ("lb",), "zone_b", str(net[10])),
            Host("db-1", ("db", "db_primary"), "zone_b", str(net[11])),
            Host("db-2", ("db", "db_replica"), "zone_a", str(net[12])),
            Host("payment-1", ("payment_service",), "zone_a", str(net[21])),
            Host("payment-2", ("payment_service",), "zone_b", str(net[22])),
        ]
        orders = [
            Host(
                f"order-{i}",
                ("order_service",),
                "zone_a" if i % 2 else "zone_b",
                str(net[100 + i]),
            )
            for i in range(1, self.order_hosts + 1)
        ]
        return fixed + orders

    @property
    def bastion_host(self) -> Host | None:
        """The jump host of a `--bastion` lab (in no service group and no zone)."""
        if not self.bastion:
            return None
        return Host("bastion-1", ("bastion",), "", str(ipaddress.ip_network(self.subnet)[5]))

    def all_hosts(self) -> list[Host]:
        """Every container of the lab: the hosts, and the bastion when there is one."""
        return self.hosts() + ([self.bastion_host] if self.bastion_host else [])
