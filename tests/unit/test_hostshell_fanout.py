"""A fleet-wide command reaches every host however many the inventory holds: at most
PARALLEL hosts at once, no shell kept open per host, within a process's open-file limit.
The hosts are local shells behind an `ssh` that runs the remote command here (Ansible's
ssh_executable), so real processes and descriptors are counted, not mocks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FAKE_SSH = """#!/bin/sh
# Every option ignored; the last argument is the remote command, run here.
for last; do :; done
exec /bin/sh -c "$last"
"""

# In a child: a hard limit of 1024 open files (a common default), one script on each of
# 400 hosts.
CHILD = """
import resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
from chaosrun.hosts.hostaccess import HostInfo
from chaosrun.hosts.hostshell import HostShell
ssh, control, shells = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "shells"
hosts = [HostInfo(f"h{i}", "127.0.0.1", None, None, None, ssh_executable=ssh) for i in range(400)]
shell = HostShell(hosts, control_dir=control, shells=shells)
answers = shell.run_all({h.name: f"echo {h.name}" for h in hosts}, 60)
shell.close(keep_connections=True)
wrong = [n for n, a in answers.items() if (a.rc, a.out) != (0, n)]
print(len(wrong), answers[wrong[0]].out[-200:] if wrong else "")
"""


@pytest.fixture
def fake_ssh(tmp_path: Path) -> Path:
    path = tmp_path / "ssh"
    path.write_text(FAKE_SSH)
    path.chmod(0o755)
    return path


def _run(fake_ssh: Path, tmp_path: Path, mode: str) -> str:
    control = tmp_path / "cp"
    control.mkdir(mode=0o700)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(fake_ssh), str(control), mode],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_four_hundred_hosts_within_1024_open_files(fake_ssh: Path, tmp_path: Path) -> None:
    assert _run(fake_ssh, tmp_path, "one-shot") == "0"


def test_a_shell_per_host_would_not_fit(fake_ssh: Path, tmp_path: Path) -> None:
    """What a run's shell does (one kept open per selected host) runs out of descriptors
    here: why the fleet-wide commands keep none."""
    wrong, _, said = _run(fake_ssh, tmp_path, "shells").partition(" ")
    assert int(wrong) > 0 and "Too many open files" in said


STATUS = """
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
from chaosrun.cli import main
sys.argv = ["chaosrun", "status", "-i", sys.argv[1], "--json"]
main()
"""


def test_status_reads_a_fleet_of_four_hundred_within_1024_open_files(
    fake_ssh: Path, tmp_path: Path
) -> None:
    """`chaosrun status` as an operator runs it in an incident, on every host at once."""
    inventory = tmp_path / "hosts.yml"
    lines = ["all:", "  vars:", f"    ansible_ssh_executable: {fake_ssh}", "  hosts:"]
    lines += [f"    web-{i}: {{ansible_host: 127.0.0.1}}" for i in range(400)]
    inventory.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [sys.executable, "-c", STATUS, str(inventory)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-2000:]
    state = json.loads(done.stdout)
    assert state["unreachable"] == [] and state["faults"] == []
