"""How a lab host container is made, and when an existing one counts as stale."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from pathlib import Path

import pytest

from chaosrun.lab import hosts, processes
from chaosrun.lab.hosts import Container
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

LAB = LabConfig(name="unit", subnet="10.99.0.0/24")
IMAGE = "localhost/chaosrun-lab-host:abc"


@pytest.fixture
def paths(tmp_path: Path) -> LabPaths:
    paths = LabPaths(tmp_path)
    paths.authorized_keys.parent.mkdir(parents=True)
    paths.authorized_keys.write_text("ssh-ed25519 AAAA test\n")
    return paths


def test_run_argv_boots_systemd_on_the_static_address(paths: LabPaths) -> None:
    db = next(h for h in LAB.hosts() if h.name == "db-1")
    argv = hosts.run_argv(LAB, db, IMAGE, paths)
    assert argv[-2:] == [IMAGE, "/sbin/init"]
    assert "--systemd=always" in argv
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--name"] == "chaosrun-unit-db-1"
    assert pairs["--hostname"] == "db-1"
    assert pairs["--network"] == "chaosrun-unit"
    assert pairs["--ip"] == "10.99.0.11"
    assert "--cap-add=NET_ADMIN" in argv
    assert f"{paths.authorized_keys}:/home/chaos/.ssh/authorized_keys:ro" in argv
    assert "--add-host=db-2:10.99.0.12" in argv
    assert "--add-host=db-1:10.99.0.11" not in argv
    assert "chaosrun.lab=unit" in argv


def test_a_container_is_current_only_if_everything_matches(paths: LabPaths) -> None:
    host = LAB.hosts()[0]
    key = hosts.key_id(paths)
    alive = os.getpid()
    good = Container(
        LAB.container(host.name), host.name, host.address, IMAGE, "running", key, alive
    )
    assert hosts.is_current(good, host, LAB, IMAGE, key)
    stale = [
        # podman's word after the machine's processes died: "running", with a gone pid.
        Container(good.name, host.name, host.address, IMAGE, "running", key, dead_pid()),
        Container(good.name, host.name, host.address, IMAGE, "exited", key, alive),
        Container(good.name, host.name, "10.99.0.250", IMAGE, "running", key, alive),
        Container(good.name, host.name, host.address, "old:image", "running", key, alive),
        Container(good.name, host.name, host.address, IMAGE, "running", "otherkey", alive),
    ]
    for container in stale:
        assert not hosts.is_current(container, host, LAB, IMAGE, key), container


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_key_id_follows_the_key(paths: LabPaths) -> None:
    before = hosts.key_id(paths)
    paths.authorized_keys.write_text("ssh-ed25519 BBBB other\n")
    assert hosts.key_id(paths) != before


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while processes.alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # exited but not yet reaped: a zombie
    assert not processes.alive(child.pid)
    assert Path(f"/proc/{child.pid}").exists()
    child.wait()
    assert processes.alive(os.getpid())
