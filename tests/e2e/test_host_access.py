"""Production-shaped host access on the lab: no path uses root directly.

The lab's hosts refuse root logins; chaosrun goes in as `chaos` and escalates with
non-interactive sudo, Ansible and the fast path alike, with host keys checked against the
known_hosts `lab up` wrote. Abort and rollback as `chaos` are proven by test_run_engine's
(b) and the controller SIGKILL by test_safety_crash, on this same lab; here: root is
refused, a revert without the rights it needs is a named failure, a host whose key
changed is refused before anything is injected, and an inventory giving addresses and ssh
arguments as templates reaches the hosts on every path.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from safety_support import (  # noqa: F401  (fixtures)
    Lab,
    Project,
    kill_group,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

from chaosrun.lab.keys import ssh_argv
from chaosrun.lab.state import LabPaths

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
UNIT = "order-service.service"
SUDOERS = "/etc/sudoers.d/chaos"


def order_hosts(lab: Lab) -> list[str]:
    return [f"order-{i}" for i in range(1, lab.config.order_hosts + 1)]


def address(lab: Lab, host: str) -> str:
    return next(h.address for h in lab.config.hosts() if h.name == host)


def ssh(lab: Lab, host: str, command: str, user: str = "chaos") -> subprocess.CompletedProcess:
    argv = ssh_argv(LabPaths.of(lab.config), address(lab, host))
    argv[-1] = f"{user}@{address(lab, host)}"
    return subprocess.run(
        [*argv, command], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def test_root_login_is_refused_and_chaos_has_sudo(safety_lab: Lab) -> None:
    host = "order-1"
    inventory = yaml.safe_load(safety_lab.inventory.read_text())
    lab_vars = inventory["all"]["children"]["lab"]["vars"]
    assert (lab_vars["ansible_user"], lab_vars["ansible_become"]) == ("chaos", True)
    assert "StrictHostKeyChecking=yes" in lab_vars["ansible_ssh_common_args"]
    # Even with the lab's key authorised for root, sshd refuses root.
    safety_lab.on_host(
        host, "mkdir -p /root/.ssh && cp /home/chaos/.ssh/authorized_keys /root/.ssh/"
    )
    try:
        as_root = ssh(safety_lab, host, "id -u", user="root")
    finally:
        safety_lab.on_host(host, "rm -f /root/.ssh/authorized_keys")
    assert as_root.returncode == 255 and "Permission denied" in as_root.stderr
    as_chaos = ssh(safety_lab, host, "id -un; sudo -n id -u")
    assert as_chaos.returncode == 0, as_chaos.stderr
    assert as_chaos.stdout.split() == ["chaos", "0"]


def test_a_revert_without_sudo_is_a_named_failure(project: Project) -> None:
    lab = project.lab
    exp = project.experiment("nosudo", stop_one_order(duration="600s"))
    proc = project.start("run", str(exp))
    host = run_id = ""
    try:
        run_id, journal = project.wait_for_phase(proc, "observe")
        (host,) = journal["targets"]["selected"]
        assert not lab.unit_active(host, UNIT)
        # Take sudo away, and the connections whose shells already run as root with it.
        lab.on_host(host, f"mv {SUDOERS} /root/sudoers.chaos; pkill -KILL -u chaos; true")
        time.sleep(1)
        kill_group(proc, signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
        journal = project.journal(run_id)
        assert proc.returncode != 0
        answer = journal["rollback"]["revert_scripts"][host]
        assert answer != "ok" and "sudo" in answer, answer
        assert journal["rollback"]["ok"] is False
        assert f"ROLLBACK FAILED on {host}" in out + err
    finally:
        if proc.poll() is None:
            kill_group(proc, signal.SIGKILL)
            proc.wait(30)
        if host:
            lab.on_host(host, f"[ -f /root/sudoers.chaos ] && mv /root/sudoers.chaos {SUDOERS}")
    done = project.chaosrun("recover", "--run", run_id, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert lab.unit_active(host, UNIT) and lab.active_dirs(host) == []
    project.assert_no_active_fault()


def test_a_changed_host_key_is_refused_before_inject(project: Project, tmp_path: Path) -> None:
    lab = project.lab
    paths = LabPaths.of(lab.config)
    hosts = order_hosts(lab)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
        check=True,
        capture_output=True,
    )
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    wanted = {address(lab, h) for h in hosts}
    lines = [
        f"{line.split()[0]} {other}" if line.split()[0] in wanted else line
        for line in paths.known_hosts.read_text().splitlines()
    ]
    known = tmp_path / "known_hosts"
    known.write_text("\n".join(lines) + "\n")
    inventory = tmp_path / "hosts"
    inventory.write_text(lab.inventory.read_text().replace(str(paths.known_hosts), str(known)))
    exp = project.experiment("hostkey", stop_one_order(duration="30s"))
    done = project.chaosrun("run", str(exp), "-i", str(inventory), timeout=300)
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    said = done.stdout + done.stderr
    assert "host key" in said and any(h in said for h in hosts), said[-2000:]
    for host in hosts:
        assert lab.active_dirs(host) == [] and lab.unit_active(host, UNIT), host


def _templated(inventory: dict, known_hosts: str) -> dict:
    """The lab's inventory with every address, and the known_hosts path in the ssh
    arguments, given as templates, as many real inventories give them."""

    def walk(group: dict) -> None:
        for host in (group.get("hosts") or {}).values():
            if host and "ansible_host" in host:
                host["lab_ip"] = host["ansible_host"]
                host["ansible_host"] = "{{ lab_ip }}"
        for child in (group.get("children") or {}).values():
            walk(child or {})

    walk(inventory["all"])
    lab_vars = inventory["all"]["children"]["lab"]["vars"]
    lab_vars["lab_known_hosts"] = known_hosts
    args = lab_vars["ansible_ssh_common_args"].replace(known_hosts, "{{ lab_known_hosts }}")
    lab_vars["ansible_ssh_common_args"] = args
    return inventory


def test_an_inventory_of_templates_reaches_the_hosts_as_its_plays_do(
    project: Project, tmp_path: Path
) -> None:
    """The run's own SSH path (preflight, lease, revert) renders the inventory's templates
    as Ansible renders them for its plays; it used to dial the template text."""
    lab = project.lab
    known = str(LabPaths.of(lab.config).known_hosts)
    inventory = tmp_path / "hosts.yml"
    data = _templated(yaml.safe_load(lab.inventory.read_text()), known)
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    assert (
        "{{ lab_ip }}" in inventory.read_text() and "{{ lab_known_hosts }}" in inventory.read_text()
    )
    exp = project.experiment("templated", stop_one_order(duration="3s"))
    done = project.chaosrun("run", str(exp), "-i", str(inventory), "--json", timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    journal = json.loads(Path(json.loads(done.stdout)["journal"]).read_text())
    (host,) = journal["targets"]["selected"]
    assert journal["rollback"]["revert_scripts"] == {host: "ok"}, journal["rollback"]
    assert lab.unit_active(host, UNIT) and lab.active_dirs(host) == []
