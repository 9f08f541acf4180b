"""Checks before `lab up` touches anything: each failure is one line the user can act on."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
from collections.abc import Iterable

from chaosrun.base.errors import ChaosrunError, InvalidInput
from chaosrun.lab.topology import LabConfig

# Commands the lab runs, with the Debian/Ubuntu package that provides each.
TOOLS = {
    "podman": "podman",
    "mmdebstrap": "mmdebstrap",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
    "openssl": "openssl",
    "prometheus": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
}
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
MAX_ORDER_HOSTS = 150  # order hosts sit at .101 upwards of a /24


def require_root() -> None:
    if os.geteuid() != 0:
        raise ChaosrunError("the lab needs root (rootful podman and a bridge on the lab subnet)")


def require_tools(names: Iterable[str] = TOOLS) -> None:
    for name in names:
        if not shutil.which(name):
            raise ChaosrunError(f"{name} is not installed (Debian/Ubuntu package: {TOOLS[name]})")


def validate(lab: LabConfig) -> None:
    """Reject a lab shape that cannot work, naming the setting."""
    if not NAME_RE.match(lab.name):
        raise InvalidInput(
            f"lab name {lab.name!r} (CHAOSRUN_LAB_NAME): use lowercase letters, digits and "
            "dashes, starting with a letter, at most 20 characters"
        )
    try:
        net = ipaddress.ip_network(lab.subnet)
    except ValueError as exc:
        raise InvalidInput(f"lab subnet {lab.subnet!r} (CHAOSRUN_LAB_SUBNET): {exc}") from None
    if net.version != 4 or net.prefixlen > 24 or not net.is_private:
        raise InvalidInput(
            f"lab subnet {lab.subnet} (CHAOSRUN_LAB_SUBNET): need a private IPv4 /24 or larger"
        )
    if not 1 <= lab.order_hosts <= MAX_ORDER_HOSTS:
        raise InvalidInput(
            f"--hosts {lab.order_hosts} (CHAOSRUN_LAB_HOSTS): order-service hosts must be "
            f"1..{MAX_ORDER_HOSTS}"
        )
    if not 1024 <= lab.port_base <= 65000:
        raise InvalidInput(
            f"port base {lab.port_base} (CHAOSRUN_LAB_PORT_BASE): must be in 1024..65000"
        )


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def require_port_free(port: int, what: str) -> None:
    if not port_free(port):
        raise ChaosrunError(
            f"port 127.0.0.1:{port} for {what} is taken by another program; "
            "choose another port base with --port-base or CHAOSRUN_LAB_PORT_BASE"
        )


# Every host's systemd takes inotify instances from root's shared budget; the kernel's
# default (128) runs out at a dozen hosts and systemd then hangs at boot.
KERNEL_MINIMUMS = {
    "fs/inotify/max_user_instances": 8192,
    "fs/inotify/max_user_watches": 524288,
}


def raise_kernel_limits(minimums: dict[str, int] = KERNEL_MINIMUMS) -> None:
    """Raise the sysctls the lab needs where they are lower; never lower one."""
    for key, want in minimums.items():
        path = f"/proc/sys/{key}"
        try:
            with open(path) as handle:
                current = int(handle.read().split()[0])
            if current < want:
                with open(path, "w") as handle:
                    handle.write(str(want))
        except OSError as exc:
            raise ChaosrunError(
                f"cannot raise {key.replace('/', '.')} to {want} ({exc.strerror}); "
                f"run: sysctl -w {key.replace('/', '.')}={want}"
            ) from None
