"""The lab's hosts: one podman container booting systemd per topology host.

Containers carry labels (lab, host, address, image) so `lab up` can tell a healthy host
from a stale one (stopped, another address, an older image) and `lab down` can find every
container of a lab even when its state directory is gone.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import podman, processes
from chaosrun.lab.image import ACCESS_USER
from chaosrun.lab.keys import ssh_argv
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import Host, LabConfig

T = TypeVar("T")
LABEL = "chaosrun.lab"
# Capabilities the fault roles need: tc/iptables (NET_ADMIN, NET_RAW), signals to and
# inspection of any process (SYS_PTRACE), scheduling and memory pinning for hogs.
CAPS = ("NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_NICE", "IPC_LOCK")
MEMORY_LIMIT = "1g"  # a ceiling (not a reservation) so a memory hog stays in its host
PARALLEL = 8


@dataclass(frozen=True)
class Container:
    name: str
    host: str
    address: str
    image: str
    state: str
    key: str = ""
    pid: int = 0  # the container's init process, 0 when it is not running

    @property
    def running(self) -> bool:
        # After the machine's processes were killed wholesale (a restart that keeps the
        # disk), podman still reports "running" with the pid of a process that is gone.
        return self.state == "running" and processes.alive(self.pid)


def list_containers(lab: LabConfig) -> list[Container]:
    """Every container of this lab, by label."""
    out = podman.run(
        ["ps", "-a", "--filter", f"label={LABEL}={lab.name}", "--format", "json"]
    ).stdout
    found = []
    for item in json.loads(out or "[]"):
        labels = item.get("Labels") or {}
        found.append(
            Container(
                name=(item.get("Names") or ["?"])[0],
                host=labels.get("chaosrun.host", "?"),
                address=labels.get("chaosrun.address", ""),
                image=labels.get("chaosrun.image", item.get("Image", "")),
                state=item.get("State", "unknown"),
                key=labels.get("chaosrun.key", ""),
                pid=int(item.get("Pid") or 0),
            )
        )
    return found


def key_id(paths: LabPaths) -> str:
    """A short id of the authorised key: a host mounting an older key file is stale."""
    return hashlib.sha256(paths.authorized_keys.read_bytes()).hexdigest()[:12]


def is_current(container: Container, host: Host, lab: LabConfig, image: str, key: str) -> bool:
    return (
        container.running
        and container.name == lab.container(host.name)
        and container.address == host.address
        and container.image == image
        and container.key == key
    )


def run_argv(lab: LabConfig, host: Host, image: str, paths: LabPaths) -> list[str]:
    """The `podman run` arguments for one host."""
    others = [f"--add-host={h.name}:{h.address}" for h in lab.hosts() if h.name != host.name]
    return [
        "run", "-d", "--name", lab.container(host.name), "--hostname", host.name,
        "--network", lab.network, "--ip", host.address,
        "--systemd=always", "--memory", MEMORY_LIMIT,
        *[f"--cap-add={cap}" for cap in CAPS],
        "--label", f"{LABEL}={lab.name}", "--label", f"chaosrun.host={host.name}",
        "--label", f"chaosrun.address={host.address}", "--label", f"chaosrun.image={image}",
        "--label", f"chaosrun.zone={host.zone}", "--label", f"chaosrun.key={key_id(paths)}",
        "-v", f"{paths.authorized_keys}:/home/{ACCESS_USER}/.ssh/authorized_keys:ro",
        *others,
        image, "/sbin/init",
    ]  # fmt: skip


def create(lab: LabConfig, host: Host, image: str, paths: LabPaths) -> None:
    podman.run(["rm", "-f", "--time", "0", lab.container(host.name)], check=False)
    podman.run(run_argv(lab, host, image, paths))
    forget_neighbour(host.address)


def forget_neighbour(address: str) -> None:
    """Drop the controller's ARP entry for the address: a recreated host has a new MAC, and
    Prometheus' scrapes every second keep the old entry alive, so nothing would reach it."""
    subprocess.run(["ip", "neigh", "flush", "to", address], capture_output=True, check=False)


def remove(names: Iterable[str], attempts: int = 5) -> None:
    """Remove containers. On a loaded machine killed processes can outlast podman's own wait
    ("could not be stopped"), so retry what is left before giving up."""
    left = list(names)
    for attempt in range(attempts):
        if not left:
            return
        proc = podman.run(["rm", "-f", "--ignore", "--time", "0", *left], check=False, timeout=600)
        if proc.returncode == 0:
            return
        existing = podman.run(["ps", "-a", "--format", "{{.Names}}"]).stdout.split()
        left = [name for name in left if name in existing]
        if left and attempt == attempts - 1:
            detail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise ChaosrunError(f"podman could not remove {', '.join(left)}: {detail}")
        time.sleep(2)


def parallel(fn: Callable[[Host], None], hosts: list[Host]) -> None:
    """Run fn for every host in parallel; raise the first error, naming the host."""
    run_parallel(fn, hosts)


def run_parallel(fn: Callable[[T], None], items: list[T]) -> None:
    """Run fn for every item (a Host or a Container) in parallel; raise the first error."""
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = [(item, pool.submit(fn, item)) for item in items]
    for item, future in futures:
        exc = future.exception()
        if exc is not None:
            name = getattr(item, "name", item)
            raise ChaosrunError(f"host {name}: {exc}") from exc


def system_state(lab: LabConfig, host: str, wait: bool = False, timeout: float = 60) -> str:
    """`systemctl is-system-running` inside the host (running, degraded, starting, ...)."""
    argv = ["exec", lab.container(host), "systemctl", "is-system-running"]
    if wait:
        argv.append("--wait")
    try:
        proc = podman.run(argv, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    return (proc.stdout.strip() or proc.stderr.strip() or "unknown").splitlines()[-1]


def wait_port(host: Host, port: int = 22, timeout: float = 180) -> None:
    """Wait until the host accepts TCP connections on the port (cheaper than a login)."""
    deadline = time.monotonic() + timeout
    while not _port_open(host.address, port):
        if time.monotonic() >= deadline:
            raise ChaosrunError(
                f"{host.address}:{port} did not accept connections in {timeout:.0f}s"
            )
        forget_neighbour(host.address)
        time.sleep(0.3)


def wait_ssh(paths: LabPaths, host: Host, timeout: float = 180) -> None:
    """Wait until sshd on the host answers a command with the lab's key."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not _port_open(host.address, 22):
            forget_neighbour(host.address)
        else:
            try:
                proc = subprocess.run(
                    [*ssh_argv(paths, host.address), "true"],
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                    timeout=30,
                )
            except subprocess.TimeoutExpired:
                last = "(ssh timed out; is the machine overloaded?)"
                continue
            if proc.returncode == 0:
                return
            last = proc.stderr.strip()
        time.sleep(0.3)
    raise ChaosrunError(f"sshd on {host.address} did not answer in {timeout:.0f}s {last}".strip())


def _port_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False
