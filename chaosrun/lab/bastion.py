"""`lab up --bastion`: a jump host, and hosts that take SSH only through it, as in many
companies.

Each host refuses SSH from the controller (a firewall rule on the host, tagged so it is
found and removed when the bastion goes); Prometheus still scrapes them directly. The
inventory's ssh arguments say `ProxyJump` to the bastion, with an ssh config file of the
lab's that tells the jump connection which key and known_hosts to use (options on the
command line reach the destination, not the jump host; `-F` reaches both).
"""

from __future__ import annotations

import shlex

from chaosrun.lab import hosts, podman
from chaosrun.lab.image import ACCESS_USER
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import Host, LabConfig

TAG = "chaosrun-lab-bastion"


def rule(lab: LabConfig) -> list[str]:
    """The iptables rule that refuses the controller's SSH (RST, so a connection opened
    before the bastion came ends at once instead of lingering)."""
    return [
        "INPUT", "-p", "tcp", "--dport", "22", "-s", lab.gateway,
        "-m", "comment", "--comment", TAG, "-j", "REJECT", "--reject-with", "tcp-reset",
    ]  # fmt: skip


def firewall_script(lab: LabConfig) -> str:
    args = shlex.join(rule(lab))
    if lab.bastion:
        return f"iptables -C {args} 2>/dev/null || iptables -I {args}"
    return f"while iptables -D {args} 2>/dev/null; do :; done"


def ensure_firewall(lab: LabConfig) -> None:
    """Refuse (bastion lab) or allow (plain lab) the controller's SSH on every host."""
    script = firewall_script(lab)

    def apply(host: Host) -> None:
        podman.run(["exec", lab.container(host.name), "sh", "-c", script], timeout=60)

    hosts.parallel(apply, lab.hosts())


def config_text(lab: LabConfig, paths: LabPaths) -> str:
    host = lab.bastion_host
    if host is None:
        return ""
    return (
        "# Written by `chaosrun lab up --bastion`: how the jump connection reaches bastion-1.\n"
        f"Host {host.address}\n"
        f"  User {ACCESS_USER}\n"
        f"  IdentityFile {paths.key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {paths.known_hosts}\n"
        "  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n"
    )


def write_config(lab: LabConfig, paths: LabPaths) -> None:
    path = paths.root / "ssh" / "config"
    text = config_text(lab, paths)
    if not text:
        path.unlink(missing_ok=True)
    elif not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(text)


def jump_options(lab: LabConfig, paths: LabPaths) -> list[str]:
    """ssh options that go through the bastion ([] on a lab without one)."""
    host = lab.bastion_host
    if host is None:
        return []
    return [
        "-F", str(paths.root / "ssh" / "config"),
        "-o", f"ProxyJump={ACCESS_USER}@{host.address}",
    ]  # fmt: skip
